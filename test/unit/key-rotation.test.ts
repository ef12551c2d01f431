import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { EncryptionCodec, METADATA_ENCRYPTION_KEY_ID } from '../../src/codec/encryption-codec';
import { newKeyRing, promoted, readKeyRing, rotated, staged, writeKeyRing, type KeyRing } from '../../src/codec/key-ring';
import { keyUseOf } from '../../src/codec/key-usage';
import { processKeyRing } from '../../src/codec/process-key-ring';

const toPayload = (value: unknown) => defaultPayloadConverter.toPayload(value) as Payload;
const fromPayload = (payload: Payload) => defaultPayloadConverter.fromPayload(payload);
const keyIdOf = (payload: Payload) => Buffer.from(payload.metadata![METADATA_ENCRYPTION_KEY_ID]!).toString();

/**
 * Workers, bridges and the codec server each read the ring at start, and in a rolling restart
 * some run the old ring while others run the new. Whether they can read each other is the whole
 * question: every pair (writer's ring, reader's ring) that can be up at once must decode.
 */
const readable = async (writer: KeyRing, reader: KeyRing): Promise<boolean> => {
  const [encoded] = await new EncryptionCodec(writer).encode([defaultPayloadConverter.toPayload({ bookingId: 'b1' }) as Payload]);
  return new EncryptionCodec(reader).decode([encoded!]).then(
    () => true,
    () => false,
  );
};

describe('a key rotation across processes', () => {
  const old = newKeyRing('k-old');
  const withNewKey = staged(old, 'k-new');
  const rotatedRing = promoted(withNewKey, 'k-new');

  it('in two steps, every pair of rings up at once reads each other: first the new key everywhere, then made current', async () => {
    // Step 1, a rolling restart onto the staged ring: old and staged processes side by side.
    expect(withNewKey.currentKeyId).toBe('k-old');
    for (const [writer, reader] of [[old, withNewKey], [withNewKey, old], [withNewKey, withNewKey]] as const) {
      expect(await readable(writer, reader)).toBe(true);
    }
    // Step 2, once no process runs the old ring: staged and promoted side by side.
    for (const [writer, reader] of [[rotatedRing, withNewKey], [withNewKey, rotatedRing], [old, rotatedRing]] as const) {
      expect(await readable(writer, reader)).toBe(true);
    }
  });

  it('in one step, a process still on the old ring cannot read what a rotated one writes: so one step is only for restarting all at once', async () => {
    const oneStep = rotated(old, 'k-new');
    expect(await readable(oneStep, old)).toBe(false);
    expect(await readable(old, oneStep)).toBe(true);
    // And promoting before every process has the key strands the same way.
    expect(await readable(rotatedRing, old)).toBe(false);
  });

  it('refuses to make current a key the ring does not have', () => {
    expect(() => promoted(old, 'k-missing')).toThrow('The key ring has no key k-missing to make current');
    expect(() => staged(old, 'k-old')).toThrow('The key ring already has a key k-old');
  });
});

describe('a staged rotation reaching running processes (SIGHUP)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'key-reload-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tool = (file: string, ...args: string[]) =>
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/payload-keys.ts', ...args], { env: { ...process.env, PAYLOAD_KEY_RING_FILE: file }, encoding: 'utf8' });

  it('`add` makes nothing current; after SIGHUP a running process reads the new key, and after `promote` and SIGHUP encrypts with it', async () => {
    const file = path.join(dir, 'ring.json');
    writeKeyRing(file, newKeyRing('k-old'));
    const running = processKeyRing(file);
    const codec = new EncryptionCodec(running);

    const added = /added key (\S+); the current key is still k-old/.exec(tool(file, 'add'))?.[1];
    expect(added).toBeDefined();
    const fromAnUpdatedProcess = await new EncryptionCodec({ ...readKeyRing(file), currentKeyId: added! }).encode([toPayload({ bookingId: 'b1' })]);
    await expect(codec.decode(fromAnUpdatedProcess)).rejects.toThrow(added!);
    process.emit('SIGHUP', 'SIGHUP');
    expect(fromPayload((await codec.decode(fromAnUpdatedProcess))[0]!)).toEqual({ bookingId: 'b1' });
    expect(running.currentKeyId).toBe('k-old');

    expect(tool(file, 'promote', added!)).toContain(`current key is now ${added}`);
    expect(keyIdOf((await codec.encode([toPayload('x')]))[0]!)).toBe('k-old');
    process.emit('SIGHUP', 'SIGHUP');
    expect(keyIdOf((await codec.encode([toPayload('x')]))[0]!)).toBe(added);
  });

  it('keeps the ring it has when the file it reads again fails its checks (here: readable by others)', () => {
    const file = path.join(dir, 'ring-bad.json');
    writeKeyRing(file, newKeyRing('k-kept'));
    const running = processKeyRing(file);
    writeKeyRing(file, newKeyRing('k-other'));
    chmodSync(file, 0o644);
    process.emit('SIGHUP', 'SIGHUP');
    expect(running.currentKeyId).toBe('k-kept');
    expect([...running.keys.keys()]).toEqual(['k-kept']);
  });
});

describe('the report of the keys open runs use', () => {
  it('reads the key IDs from the payload metadata anywhere in a history, without a key, and counts plain payloads', async () => {
    const [underK1] = await new EncryptionCodec(newKeyRing('k1')).encode([toPayload({ bookingId: 'b1' })]);
    const [underK2] = await new EncryptionCodec(newKeyRing('k2')).encode([toPayload('retry')]);
    const history = {
      events: [
        { workflowExecutionStartedEventAttributes: { input: { payloads: [underK1] } } },
        { workflowExecutionSignaledEventAttributes: { input: { payloads: [underK2, toPayload('retry')] } } },
        { timerStartedEventAttributes: { timerId: '1' } },
        // Plain by design, never through the codec: not counted.
        { upsertWorkflowSearchAttributesEventAttributes: { searchAttributes: { indexedFields: { PipelineStatus: toPayload('Running') } } } },
        { workflowExecutionSignaledEventAttributes: { header: { fields: { trace: toPayload({ correlationId: 'c1' }) } } } },
        { markerRecordedEventAttributes: { markerName: 'core_patch', details: { 'patch-data': { payloads: [toPayload({ id: 'demographics-change-held' })] } } } },
      ],
    };
    const use = keyUseOf(history);
    expect([...use.keyIds].sort()).toEqual(['k1', 'k2']);
    expect(use.plainPayloads).toBe(1);
  });
});
