/**
 * The people who may read payloads through the codec server (src/codec-server/operators.ts).
 *
 *   npm run codec-operators -- add NAME [--encode]   a new operator who may decode (and with --encode, encode);
 *                                                    prints their credential once
 *   npm run codec-operators -- rotate NAME           a new credential for NAME; the old one and every session
 *                                                    signed in with it stop working at once
 *   npm run codec-operators -- remove NAME           NAME can no longer sign in; their sessions end (audit rows stay)
 *   npm run codec-operators -- list                  names, roles, when each credential was last rotated
 *   npm run codec-operators -- ensure-dev            the local stack's development operator (scripts/stack.sh up):
 *                                                    writes its credential to CODEC_OPERATOR_CREDENTIAL_FILE,
 *                                                    anew only if that file is missing or no longer valid
 *
 * `add` and `rotate` print the credential on stdout and nothing else there, or with `--out FILE`
 * write it to FILE (mode 0600) instead. Give it to its owner only; only its hash is stored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeSecretFile } from '../codec/key-ring';
import { createOperatorStore, type Role } from './operators';
import { asOwner, loadConfig } from '../config';
import { createPool } from '../connections';

const developer = 'developer';

async function main(args: string[]): Promise<void> {
  const config = loadConfig();
  const [command, name] = args;
  const option = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const out = option('--out');
  // As the owner: the application role may only read codec_operators (migration 010), so no
  // compromised process can add itself an operator.
  const db = createPool(asOwner(config), { max: 2 });
  const operators = createOperatorStore(db);
  const give = (credential: string) => {
    if (!out) return void console.log(credential);
    writeSecretFile(out, `${credential}\n`);
    console.error(`wrote the credential to ${out}`);
  };
  try {
    if (command === 'add' && name) {
      const roles: Role[] = args.includes('--encode') ? ['decode', 'encode'] : ['decode'];
      give(await operators.add(name, roles));
      console.error(`added operator ${name} (${roles.join(', ')})`);
    } else if (command === 'rotate' && name) {
      give(await operators.rotate(name));
      console.error(`rotated the credential of ${name}; their old credential and sessions no longer work`);
    } else if (command === 'remove' && name) {
      await operators.remove(name);
      console.error(`removed operator ${name}; their sessions have ended`);
    } else if (command === 'list') {
      for (const o of await operators.list()) {
        console.log(`${o.name}\t${o.roles.join(',')}\tcredential rotated ${o.credentialRotatedAt.toISOString()}`);
      }
    } else if (command === 'ensure-dev') {
      const file = config.CODEC_OPERATOR_CREDENTIAL_FILE;
      const current = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
      if ((await operators.authenticate(current))?.name === developer) return;
      const exists = (await operators.list()).some((o) => o.name === developer);
      const credential = exists ? await operators.rotate(developer) : await operators.add(developer, ['decode', 'encode']);
      writeSecretFile(file, `${credential}\n`);
      console.log(`wrote the credential of codec operator ${developer} to ${file}`);
    } else {
      console.error('Usage: npm run codec-operators -- add NAME [--encode] [--out FILE] | rotate NAME [--out FILE] | remove NAME | list | ensure-dev');
      process.exitCode = 2;
    }
  } finally {
    await db.end();
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
