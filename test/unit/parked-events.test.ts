import type { KafkaMessage } from 'kafkajs';
import type { Pool } from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { createParkedEvents } from '../../src/bridges/parked-events';

const message = { offset: '7', key: Buffer.from('booking_1'), value: Buffer.from([0x00, 0x01]), headers: {} } as KafkaMessage;

/** A pool whose first query fails with `err` and whose later ones succeed. */
function poolFailingOnce(err: Error) {
  const query = vi.fn().mockRejectedValueOnce(err).mockResolvedValue({ rows: [], rowCount: 1 });
  return { pool: { query } as unknown as Pool, query };
}
const pgError = (message: string, code?: string) => Object.assign(new Error(message), { code });

describe('parking a record', () => {
  it('keeps only its coordinates and reason when PostgreSQL refuses the record itself, so the partition moves on', async () => {
    const { pool, query } = poolFailingOnce(pgError('invalid byte sequence for encoding "UTF8": 0x00', '22021'));
    await createParkedEvents(pool).park('payments', 2, message, 'unparseable JSON: \u0000', 'corr-1');
    expect(query).toHaveBeenCalledTimes(2);
    const [sql, params] = query.mock.calls[1]!;
    expect(sql).toMatch(/INSERT INTO parked_events \(topic, kafka_partition, kafka_offset, reason, expires_at\)/);
    expect(params).toEqual([
      'payments',
      2,
      '7',
      'unparseable JSON: \\x00; the record itself was refused: PostgreSQL refused it (SQLSTATE 22021)',
      false, // no personal data: the row does not expire
    ]);
  });

  it.each([
    ['refused connection', pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['server shutting down', pgError('terminating connection due to administrator command', '57P01')],
    ['dropped connection', pgError('Connection terminated unexpectedly')],
  ])('throws on a %s, so the bridge holds the partition and retries', async (_, err) => {
    const { pool, query } = poolFailingOnce(err);
    await expect(createParkedEvents(pool).park('payments', 2, message, 'unparseable JSON', 'corr-1')).rejects.toBe(err);
    expect(query).toHaveBeenCalledTimes(1);
  });
});
