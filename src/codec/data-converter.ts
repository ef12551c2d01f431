import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config';
import { EncryptionCodec } from './encryption-codec';
import { readKeyRing, type KeyRing } from './key-ring';

/** For workers (`dataConverter`) and workflow bundles (`bundleWorkflowCode`), which load it by path. */
export const failureConverterPath = path.join(__dirname, 'failure-converter.ts');

/**
 * The data converter of every client and worker: payloads encrypted with the key ring, failures'
 * messages and stack traces encoded too. Workflow IDs and search attributes are not payloads and
 * stay readable (they carry business keys and statuses only, never personal data).
 */
export function dataConverterWith(ring: KeyRing): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(ring)], failureConverterPath };
}

/** The key ring named by the configuration; fails at start-up, saying how to get one, when it is missing. */
export function dataConverterFor(config: Pick<Config, 'PAYLOAD_KEY_RING_FILE'>): DataConverter {
  return dataConverterWith(readKeyRing(config.PAYLOAD_KEY_RING_FILE));
}
