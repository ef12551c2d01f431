import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { newKeyRing, promoted, rotated, staged, type KeyRing } from '../../src/codec/key-ring';

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
