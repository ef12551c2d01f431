/**
 * The payload key ring, as a file beside the deployment.
 *
 *   tsx scripts/payload-keys.ts ensure         writes a key ring and the two database roles' passwords where the
 *                                              config says, each only if missing (scripts/stack.sh up runs it: a local
 *                                              development key ring; scripts/postgres/roles.sql sets the passwords)
 *   npm run rotate-payload-key                 step 1 of a rotation: adds a new key that nothing encrypts with yet
 *   (send SIGHUP to every worker, bridge, payment API and codec server: each reads the ring again)
 *   npm run payload-key -- promote KEY_ID      step 2, once every process has the key: new payloads use it
 *   npm run payload-key -- report              which key IDs the open workflow runs' payloads use
 *
 * Prints key IDs, never keys.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { openRunKeyReport } from '../src/codec/key-usage';
import { newKeyRing, promoted, readKeyRing, staged, writeKeyRing, writeSecretFile } from '../src/codec/key-ring';
import { loadConfig } from '../src/config';
import { temporalConnectionOptions } from '../src/connection-options';

const reload =
  'Have every worker, bridge, payment API and codec server read the ring again: locally, send each SIGHUP (kill -HUP <pid>; ' +
  'each logs "Payload key ring read again"); with compose, whose secret is the file as mounted at container start, ' +
  'docker compose restart workers bridges payment-api codec-server.';

async function main(command: string | undefined, keyId?: string): Promise<void> {
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
  if (command === 'add') {
    const ring = staged(readKeyRing(ringFile));
    writeKeyRing(ringFile, ring);
    const added = [...ring.keys.keys()].at(-1);
    console.log(`${ringFile}: added key ${added}; the current key is still ${ring.currentKeyId}`);
    console.log(`${reload}\nThen: npm run payload-key -- promote ${added}`);
    return;
  }
  if (command === 'promote' && keyId) {
    const ring = promoted(readKeyRing(ringFile), keyId);
    writeKeyRing(ringFile, ring);
    console.log(`${ringFile}: current key is now ${ring.currentKeyId}\n${reload}`);
    return;
  }
  if (command === 'report') {
    const ring = readKeyRing(ringFile);
    const connection = await Connection.connect(temporalConnectionOptions(config));
    try {
      const report = await openRunKeyReport(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }));
      if (!report.size) console.log('No open run has a payload.');
      for (const [id, runs] of report) {
        const where = id === '(plain)' ? 'not encrypted' : id === ring.currentKeyId ? 'current' : ring.keys.has(id) ? 'in the ring' : 'NOT IN THE RING';
        console.log(`${id} (${where}): ${runs.length} open run(s), e.g. ${runs.slice(0, 3).join(', ')}`);
      }
      const unused = [...ring.keys.keys()].filter((id) => id !== ring.currentKeyId && !report.has(id));
      console.log(`Keys no open run uses: ${unused.join(', ') || 'none'} (closed runs in retention may still have payloads under them).`);
    } finally {
      await connection.close();
    }
    return;
  }
  console.error('Usage: tsx scripts/payload-keys.ts ensure | add | promote KEY_ID | report');
  process.exit(2);
}

main(process.argv[2], process.argv[3]).catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
