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

describe('every PostgreSQL pool', () => {
  it('survives PostgreSQL dropping a connection checked out for a transaction: the transaction fails, the process goes on', async () => {
    const db = createPool(loadConfig(), { max: 1 });
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const ended = new Promise((resolve) => client.once('end', resolve));
      // As a stop or restart of PostgreSQL does to every session; without a listener on the
      // checked-out client, pg's 'error' event would be thrown as an uncaught exception here.
      const admin = createPool(loadConfig(), { max: 1 });
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await admin.end();
      await ended;
      await expect(client.query('SELECT 1')).rejects.toThrow(/not queryable|terminat|connection/i);
    } finally {
      client.release(true);
    }
    // The pool replaces the dropped connection.
    expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await db.end();
  });
});
