import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { ReloadableCodec } from '../../bench/chaos/processes';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { newKeyRing, promoted, staged, writeKeyRing } from '../../src/codec/key-ring';

/**
 * The chaos run reads every prescription's result through one client for the whole run, while its
 * key-rotation fault stages and promotes a new key: that client's codec must read the ring again.
 */
describe("the chaos run's own payload codec", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-codec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes what the workers write under a promoted key only after it reads the ring again', async () => {
    const ringFile = path.join(dir, 'payload-key-ring.json');
    const old = newKeyRing('k-old');
    writeKeyRing(ringFile, old);
    const codec = new ReloadableCodec(ringFile);

    const rotated = promoted(staged(old, 'k-new'), 'k-new');
    writeKeyRing(ringFile, rotated);
    const [fromWorker] = await new EncryptionCodec(rotated).encode([defaultPayloadConverter.toPayload({ status: 'Delivered' }) as Payload]);

    await expect(codec.decode([fromWorker!])).rejects.toThrow(/k-new/);
    codec.reload();
    const [decoded] = await codec.decode([fromWorker!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ status: 'Delivered' });
  });
});
