import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * The people who may read payloads through the codec server, each with a credential of their own
 * (`<name>.<secret>`, 256 random bits), stored only as a scrypt hash in `codec_operators`. The
 * credential is made here, never chosen by a person, and shown once to its owner.
 */
export type Role = 'decode' | 'encode';
export const roles: readonly Role[] = ['decode', 'encode'];

export interface Operator {
  name: string;
  roles: Role[];
}

export const operatorNamePattern = /^[a-z][a-z0-9_-]{0,62}$/;

// scrypt's interactive-login parameters (16 MiB, about 50 ms here): a stolen table costs that per guess.
const cost: ScryptOptions = { N: 2 ** 14, r: 8, p: 1 };
const keyLength = 32;

function scryptAsync(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, keyLength, cost, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

async function secretMatches(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) }, (err, k) =>
      err ? reject(err) : resolve(k),
    ),
  );
  return timingSafeEqual(actual, expected);
}

// Checked against when the name is unknown, so an unknown name takes as long as a wrong secret.
const decoyHash = hashSecret(randomBytes(32).toString('base64url'));

/** The name a credential claims (for rate limits and the audit), whether or not its secret is right. */
export function claimedName(credential: string): string | undefined {
  const name = credential.slice(0, credential.indexOf('.'));
  return operatorNamePattern.test(name) ? name : undefined;
}

export interface OperatorStore {
  /** The operator a credential belongs to, or undefined for a wrong or unknown one. */
  authenticate(credential: string): Promise<Operator | undefined>;
  /** Adds an operator and returns their new credential (shown once). */
  add(name: string, roles: Role[]): Promise<string>;
  /** A new credential for an operator; the old one stops working and their sessions end at once. */
  rotate(name: string): Promise<string>;
  /** Removes an operator; their sessions end with them. */
  remove(name: string): Promise<void>;
  list(): Promise<Array<Operator & { createdAt: Date; credentialRotatedAt: Date }>>;
}

export function createOperatorStore(db: Pool): OperatorStore {
  const newCredential = (name: string) => `${name}.${randomBytes(32).toString('base64url')}`;
  const checkName = (name: string) => {
    if (!operatorNamePattern.test(name)) throw new Error(`An operator name is lower-case letters, digits, - and _ (${operatorNamePattern}); got ${JSON.stringify(name)}`);
  };

  return {
    async authenticate(credential) {
      const name = claimedName(credential);
      const secretPart = credential.slice(credential.indexOf('.') + 1);
      const { rows } = name
        ? await db.query<{ roles: Role[]; credential_hash: string }>('SELECT roles, credential_hash FROM codec_operators WHERE name = $1', [name])
        : { rows: [] };
      const row = rows[0];
      const matches = await secretMatches(secretPart, row?.credential_hash ?? (await decoyHash));
      return row && matches && name ? { name, roles: row.roles } : undefined;
    },

    async add(name, wanted) {
      checkName(name);
      const credential = newCredential(name);
      const inserted = await db.query(
        'INSERT INTO codec_operators (name, roles, credential_hash) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
        [name, wanted, await hashSecret(credential.slice(name.length + 1))],
      );
      if (inserted.rowCount === 0) throw new Error(`Operator ${name} exists already (rotate their credential instead)`);
      return credential;
    },

    async rotate(name) {
      const credential = newCredential(name);
      const client = await db.connect();
      try {
        await client.query('BEGIN');
        const updated = await client.query(
          'UPDATE codec_operators SET credential_hash = $2, credential_rotated_at = now() WHERE name = $1',
          [name, await hashSecret(credential.slice(name.length + 1))],
        );
        if (updated.rowCount === 0) throw new Error(`No operator ${name}`);
        // A session signed in with the old credential must not outlive it.
        await client.query('UPDATE codec_sessions SET revoked_at = now() WHERE operator = $1 AND revoked_at IS NULL', [name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
      return credential;
    },

    async remove(name) {
      // Their sessions go with them (ON DELETE CASCADE); their audit rows stay.
      const deleted = await db.query('DELETE FROM codec_operators WHERE name = $1', [name]);
      if (deleted.rowCount === 0) throw new Error(`No operator ${name}`);
    },

    async list() {
      const { rows } = await db.query<{ name: string; roles: Role[]; created_at: Date; credential_rotated_at: Date }>(
        'SELECT name, roles, created_at, credential_rotated_at FROM codec_operators ORDER BY name',
      );
      return rows.map((r) => ({ name: r.name, roles: r.roles, createdAt: r.created_at, credentialRotatedAt: r.credential_rotated_at }));
    },
  };
}
