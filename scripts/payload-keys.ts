/**
 * The payload key ring, as a file beside the deployment.
 *
 *   tsx scripts/payload-keys.ts ensure   writes a key ring and the two database roles' passwords where the config
 *                                        says, each only if missing (scripts/stack.sh up runs it: a local
 *                                        development key ring; scripts/postgres/roles.sql sets the passwords)
 *   npm run rotate-payload-key           adds a new key to the ring and makes it current; old keys stay,
 *                                        so everything they encrypted stays readable (one process, or all
 *                                        restarted at once)
 *   npm run rotate-payload-key -- stage  adds a new key that nothing encrypts with yet (step 1 of a rotation
 *                                        across processes restarted one by one)
 *   npm run rotate-payload-key -- promote KEY_ID   makes that key current (step 2, once every process has it)
 *
 * After a rotation, restart the workers, bridges and codec server (they read the ring at start):
 * `npm run stack:down && npm run stack`, or restart the containers. Prints key IDs, never keys.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { newKeyRing, promoted, readKeyRing, rotated, staged, writeKeyRing, writeSecretFile } from '../src/codec/key-ring';
import { loadConfig } from '../src/config';

function main(command: string | undefined, step?: string, keyId?: string): void {
  const config = loadConfig();
  const ringFile = config.PAYLOAD_KEY_RING_FILE;
  if (command === 'ensure') {
    if (!existsSync(ringFile)) {
      const ring = newKeyRing();
      writeKeyRing(ringFile, ring);
      console.log(`wrote a new payload key ring (key ${ring.currentKeyId}) to ${ringFile}`);
    }
    for (const file of [config.DATABASE_PASSWORD_FILE, config.MIGRATION_DATABASE_PASSWORD_FILE]) {
      if (existsSync(file)) continue;
      writeSecretFile(file, `${randomBytes(24).toString('base64url')}\n`);
      console.log(`wrote a new database password to ${file}`);
    }
    return;
  }
  if (command === 'rotate' && step === 'stage') {
    const ring = staged(readKeyRing(ringFile));
    writeKeyRing(ringFile, ring);
    const added = [...ring.keys.keys()].at(-1);
    console.log(`${ringFile}: added key ${added}; the current key is still ${ring.currentKeyId}`);
    console.log(`Give every worker, bridge and codec server this ring and restart them, then: npm run rotate-payload-key -- promote ${added}`);
    return;
  }
  if (command === 'rotate' && step === 'promote' && keyId) {
    const ring = promoted(readKeyRing(ringFile), keyId);
    writeKeyRing(ringFile, ring);
    console.log(`${ringFile}: current key is now ${ring.currentKeyId}; restart the processes (one by one is safe now)`);
    return;
  }
  if (command === 'rotate' && !step) {
    const ring = existsSync(ringFile) ? rotated(readKeyRing(ringFile)) : newKeyRing();
    writeKeyRing(ringFile, ring);
    console.log(`${ringFile}: current key is now ${ring.currentKeyId}; keys ${[...ring.keys.keys()].join(', ')}`);
    console.log('Restart the workers, bridges and codec server to use it (npm run stack:down && npm run stack, or restart the containers).');
    return;
  }
  console.error('Usage: tsx scripts/payload-keys.ts ensure | rotate [stage | promote KEY_ID]');
  process.exit(2);
}

main(process.argv[2], process.argv[3], process.argv[4]);
