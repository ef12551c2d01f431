import type { KafkaMessage } from 'kafkajs';
import type { Pool } from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { createParkedEvents, keepingRetention } from '../../src/bridges/parked-events';
import type { Logger } from '../../src/logger';

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

describe('parking a record with personal data', () => {
  it('without a key ring, keeps only its coordinates and reason, and lets the row expire', async () => {
    const { pool, query } = poolFailingOnce(new Error('not used'));
    query.mockReset().mockResolvedValue({ rows: [], rowCount: 1 });
    await createParkedEvents(pool).park('prescription.intake.received', 1, message, 'unparseable JSON at byte 0', 'corr-1', true);
    expect(query).toHaveBeenCalledTimes(1);
    const [sql, params] = query.mock.calls[0]!;
    expect(sql).toMatch(/INSERT INTO parked_events \(topic, kafka_partition, kafka_offset, reason, expires_at\)/);
    expect(params).toEqual([
      'prescription.intake.received',
      1,
      '7',
      'unparseable JSON at byte 0; personal data, and no key ring to encrypt it: only where the record is was kept',
      true,
    ]);
  });
});

describe("the bridge's retention sweep", () => {
  it('deletes expired records at once and then every interval, and a failed sweep does not stop the next', async () => {
    vi.useFakeTimers();
    try {
      const deleteExpired = vi.fn().mockResolvedValueOnce(2).mockRejectedValueOnce(new Error('PostgreSQL down')).mockResolvedValue(0);
      const log = { info: vi.fn(), warn: vi.fn() };
      const timer = keepingRetention({ deleteExpired }, log as unknown as Logger, 1_000);
      expect(deleteExpired).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(deleteExpired).toHaveBeenCalledTimes(3);
      expect(log.info).toHaveBeenCalledWith({ deleted: 2 }, expect.stringMatching(/past their retention/));
      expect(log.warn).toHaveBeenCalledTimes(1);
      clearInterval(timer);
    } finally {
      vi.useRealTimers();
    }
  });
});
