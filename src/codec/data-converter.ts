import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config';
import { EncryptionCodec } from './encryption-codec';
import type { KeyRing } from './key-ring';
import { moduleFile } from '../module-file';
import { processKeyRing } from './process-key-ring';

/** For workers (`dataConverter`) and workflow bundles (`bundleWorkflowCode`), which load it by path. */
export const failureConverterPath = moduleFile(__dirname, 'failure-converter');

/**
 * The data converter of every client and worker: payloads encrypted with the key ring, failures'
 * messages and stack traces encoded too. Workflow IDs and search attributes are not payloads and
 * stay readable (they carry business keys and statuses only, never personal data).
 */
export function dataConverterWith(ring: KeyRing, options: { strict?: boolean } = {}): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(ring, options)], failureConverterPath };
}

/**
 * The key ring named by the configuration (the process's, read again on SIGHUP), strict as
 * configured; fails at start-up, saying how to get one, when it is missing.
 */
export function dataConverterFor(config: Pick<Config, 'PAYLOAD_KEY_RING_FILE'> & Partial<Pick<Config, 'PAYLOAD_ENCRYPTION_STRICT'>>): DataConverter {
  return dataConverterWith(processKeyRing(config.PAYLOAD_KEY_RING_FILE), { strict: config.PAYLOAD_ENCRYPTION_STRICT ?? false });
}
