import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { Operator, Role } from './operators';

/**
 * Browser sessions, kept in PostgreSQL so that every codec-server process sees the same ones and a
 * revocation holds everywhere at once. The cookie carries a random ID; the table only its SHA-256.
 */
export interface SessionLimits {
  /** A session unused this long has ended. */
  idleMs: number;
  /** A session this old has ended, used or not. */
  maxAgeMs: number;
}

export interface SessionStore {
  /** A new session for `operator`; returns the cookie value. */
  start(operator: string, remoteAddress: string | undefined): Promise<string>;
  /** The operator of a live session (and marks it used), or undefined if it ended or never was. */
  resume(id: string): Promise<Operator | undefined>;
  /** Ends a session; a later `resume` of it finds nothing. */
  revoke(id: string): Promise<void>;
}

const hashOf = (id: string) => createHash('sha256').update(id).digest('base64url');

export function createSessionStore(db: Pool, limits: SessionLimits, now: () => Date = () => new Date()): SessionStore {
  return {
    async start(operator, remoteAddress) {
      const id = randomBytes(32).toString('base64url');
      const at = now();
      await db.query(
        `INSERT INTO codec_sessions (id_hash, operator, remote_address, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $4, $5)`,
        [hashOf(id), operator, remoteAddress ?? null, at, new Date(at.getTime() + limits.maxAgeMs)],
      );
      return id;
    },

    async resume(id) {
      const at = now();
      // One statement: a session found live is the one marked used, even with another process revoking it.
      const { rows } = await db.query<{ operator: string; roles: Role[] }>(
        `UPDATE codec_sessions s SET last_seen_at = $2
           FROM codec_operators o
          WHERE s.id_hash = $1 AND o.name = s.operator
            AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3
        RETURNING s.operator, o.roles`,
        [hashOf(id), at, new Date(at.getTime() - limits.idleMs)],
      );
      const row = rows[0];
      return row ? { name: row.operator, roles: row.roles } : undefined;
    },

    async revoke(id) {
      await db.query('UPDATE codec_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL', [hashOf(id), now()]);
    },
  };
}
