import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';

describe("the bridge's PostgreSQL pool", () => {
  it('gives up on a statement that runs past its timeout instead of holding the Kafka session', async () => {
    const db = createPool(loadConfig(), { max: 1, statementTimeoutMs: 200 });
    try {
      const started = Date.now();
      await expect(db.query('SELECT pg_sleep(5)')).rejects.toThrow(/timeout|cancel/i);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await db.end();
    }
  });

  it('ends a transaction left idle past the same timeout, so it cannot hold its locks', async () => {
    const db = createPool(loadConfig(), { max: 1, statementTimeoutMs: 200 });
    db.on('error', () => undefined); // the server ends the connection; the pool reports it
    const client = await db.connect();
    client.on('error', () => undefined);
    try {
      await client.query('BEGIN');
      await new Promise((r) => setTimeout(r, 1_000));
      await expect(client.query('SELECT 1')).rejects.toThrow(/idle-in-transaction|terminat|connection error/i);
    } finally {
      client.release(true);
      await db.end();
    }
  });
});
