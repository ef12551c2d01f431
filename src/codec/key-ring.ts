import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

import { describeProblems } from '../schema-problems';
/**
 * The payload encryption keys, read from a file that lives beside the deployment (never in the
 * repository): `{ "currentKeyId": "k2", "keys": { "k1": "<base64 32 bytes>", "k2": "..." } }`.
 * New payloads are encrypted with the current key; every key in the ring still decrypts, so a run
 * started before a rotation stays readable and keeps running after it.
 *
 * This is also the seam for a key-management service: the codec reads `currentKeyId` and
 * `keys.get(id)` at every encode and decode, so any object with these two members (a ring whose
 * keys a KMS unwrapped at start, see `KeyRingFile` for one that is read again) can stand in.
 */
export interface KeyRing {
  currentKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

const aes256Key = z
  .string()
  .transform((s) => Buffer.from(s, 'base64'))
  .refine((key) => key.length === 32, 'must be 32 bytes, base64-encoded (AES-256)');

const keyRingFile = z
  .object({
    currentKeyId: z.string().min(1),
    // Key IDs travel in payload metadata in clear text: short, printable, no secrets.
    keys: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'key IDs are 1-64 letters, digits, . _ -'), aes256Key),
  })
  // Own properties only: `in` would take `constructor` or `toString` for a key of every ring.
  .refine((ring) => Object.hasOwn(ring.keys, ring.currentKeyId), { message: 'currentKeyId must name one of the keys' });

/** The hint every "no key ring" error ends with. */
export const keyRingHint =
  'the local stack writes a development key ring on `npm run stack` (scripts/stack.sh up); ' +
  'elsewhere set PAYLOAD_KEY_RING_FILE to the mounted key ring (see README, "PHI and payload encryption")';

/** Reads and checks a key ring file. Errors name the file and what is wrong, never a key. */
export function readKeyRing(file: string): KeyRing {
  if (!existsSync(file)) throw new Error(`No payload key ring at ${file}: ${keyRingHint}`);
  // Whoever can read the ring can read every payload: a ring others may read has leaked already,
  // or will; refusing it makes the mistake visible at start instead of never.
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`The payload key ring ${file} is open to group or others (mode ${mode.toString(8).padStart(4, '0')}); make it its owner's only: chmod 600 ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`The payload key ring ${file} is not valid JSON`);
  }
  const parsed = keyRingFile.safeParse(json);
  if (!parsed.success) {
    // Issue paths name key IDs at most; zod's messages here never echo the input values.
    const problems = describeProblems(parsed.error, '(file)');
    throw new Error(`The payload key ring ${file} is invalid: ${problems}`);
  }
  return { currentKeyId: parsed.data.currentKeyId, keys: new Map(Object.entries(parsed.data.keys)) };
}

/**
 * A ring file that can be read again while the process runs (on SIGHUP, see
 * src/codec/process-key-ring.ts), so a key added to the file can be decrypted, and a promoted one
 * used, without a restart. A read that fails leaves the ring it had.
 */
export class KeyRingFile implements KeyRing {
  private ring: KeyRing;

  constructor(readonly file: string) {
    this.ring = readKeyRing(file);
  }

  get currentKeyId(): string {
    return this.ring.currentKeyId;
  }

  get keys(): ReadonlyMap<string, Buffer> {
    return this.ring.keys;
  }

  /** Reads the file again; throws (keeping the ring it had) when the file fails its checks. */
  reload(): KeyRing {
    this.ring = readKeyRing(this.file);
    return this.ring;
  }
}

export const newKey = (): Buffer => randomBytes(32);

/** A ring of one fresh key, for a new deployment and for tests. */
export function newKeyRing(keyId = newKeyId()): KeyRing {
  return { currentKeyId: keyId, keys: new Map([[keyId, newKey()]]) };
}

/** Dated, so an operator sees at a glance which key is which; the suffix keeps two on one day apart. */
export function newKeyId(now = new Date()): string {
  return `k${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/** The ring with one new key, made current; the old keys stay so existing payloads still decrypt. */
export function rotated(ring: KeyRing, keyId = newKeyId()): KeyRing {
  return promoted(staged(ring, keyId), keyId);
}

/**
 * Step 1 of a rotation with several processes: the new key joins the ring but nothing encrypts
 * with it yet, so a process given this ring reads what every other process writes, whichever ring
 * they still have. Every process must have it before step 2 (`promoted`).
 */
export function staged(ring: KeyRing, keyId = newKeyId()): KeyRing {
  if (ring.keys.has(keyId)) throw new Error(`The key ring already has a key ${keyId}`);
  return { currentKeyId: ring.currentKeyId, keys: new Map([...ring.keys, [keyId, newKey()]]) };
}

/** Step 2: new payloads use `keyId`, a key every process already has (`staged`). */
export function promoted(ring: KeyRing, keyId: string): KeyRing {
  if (!ring.keys.has(keyId)) throw new Error(`The key ring has no key ${keyId} to make current`);
  return { currentKeyId: keyId, keys: ring.keys };
}

/**
 * Writes a secret file readable by its owner only, in a directory only its owner can enter; the
 * rename makes a reader see the old file or the new one, never half of one.
 */
export function writeSecretFile(file: string, content: string): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the mode above is reduced by the umask only, but an old tmp file keeps its own
  renameSync(tmp, file);
}

export function writeKeyRing(file: string, ring: KeyRing): void {
  const keys = Object.fromEntries([...ring.keys].map(([id, key]) => [id, key.toString('base64')]));
  writeSecretFile(file, `${JSON.stringify({ currentKeyId: ring.currentKeyId, keys }, null, 2)}\n`);
}
