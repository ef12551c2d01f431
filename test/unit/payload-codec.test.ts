import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { failureConverter } from '../../src/codec/failure-converter';
import { EncryptionCodec, METADATA_ENCRYPTION_KEY_ID, UndecodablePayload } from '../../src/codec/encryption-codec';
import { loadConfig } from '../../src/config';
import { newKeyRing, readKeyRing, rotated, writeKeyRing } from '../../src/codec/key-ring';
import { dataConverterFor } from '../../src/codec/data-converter';

const booking = { bookingId: 'booking_42', userId: 'user_jane_doe', note: 'Jane Doe, allergic to penicillin' };
const toPayload = (value: unknown) => defaultPayloadConverter.toPayload(value) as Payload;
const fromPayload = (payload: Payload) => defaultPayloadConverter.fromPayload(payload);
const bytes = (payload: Payload) => Buffer.from(payload.data ?? []).toString('latin1');
const metadata = (payload: Payload, key: string) => Buffer.from(payload.metadata?.[key] ?? []).toString();

describe('the payload encryption codec', () => {
  const ring = newKeyRing('k1');
  const codec = new EncryptionCodec(ring);

  it('decodes what it encoded to the same value', async () => {
    const [encoded] = await codec.encode([toPayload(booking)]);
    const [decoded] = await codec.decode([encoded!]);
    expect(fromPayload(decoded!)).toEqual(booking);
  });

  it('leaves nothing of the plaintext in the encoded payload, only the encoding and the key ID', async () => {
    const [encoded] = await codec.encode([toPayload(booking)]);
    const whole = JSON.stringify({ metadata: Object.fromEntries(Object.entries(encoded!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString()])) }) + bytes(encoded!);
    for (const secret of ['Jane Doe', 'user_jane_doe', 'penicillin', 'json/plain']) expect(whole).not.toContain(secret);
    expect(metadata(encoded!, 'encoding')).toBe('binary/encrypted');
    expect(metadata(encoded!, METADATA_ENCRYPTION_KEY_ID)).toBe('k1');
  });

  it('encrypts the same value differently each time (a fresh IV per payload)', async () => {
    const [a, b] = await codec.encode([toPayload(booking), toPayload(booking)]);
    expect(bytes(a!)).not.toBe(bytes(b!));
  });

  it('after a rotation, encrypts with the new key and still decrypts what the old key encrypted', async () => {
    const [old] = await codec.encode([toPayload(booking)]);
    const next = rotated(ring, 'k2');
    const rotatedCodec = new EncryptionCodec(next);
    const [fresh] = await rotatedCodec.encode([toPayload(booking)]);
    expect(metadata(fresh!, METADATA_ENCRYPTION_KEY_ID)).toBe('k2');
    expect((await rotatedCodec.decode([old!, fresh!])).map(fromPayload)).toEqual([booking, booking]);
    // And the old ring cannot read what the new key wrote.
    await expect(codec.decode([fresh!])).rejects.toThrow(/key ID k2, which is not in the payload key ring/);
  });

  it('passes a payload that is not encrypted through untouched (histories from before the codec)', async () => {
    const plain = toPayload(booking);
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
  });

  it('in strict mode, refuses a payload that is not encrypted (a forged plain-JSON start or signal), and still reads encrypted ones', async () => {
    const strict = new EncryptionCodec(ring, { strict: true });
    const forged = toPayload({ prescriptionId: 'rx-1', patient: { patientId: 'victim', address: { line1: 'elsewhere' } } });
    const error = await strict.decode([forged]).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UndecodablePayload);
    expect((error as Error).message).toBe('Payload is not encrypted, and strict mode (PAYLOAD_ENCRYPTION_STRICT) refuses plain payloads');
    const [encoded] = await codec.encode([toPayload(booking)]);
    expect((await strict.decode([encoded!])).map(fromPayload)).toEqual([booking]);
  });

  it('is strict in the data converter of a configuration that says so, and only then', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'key-ring-')), 'ring.json');
    writeKeyRing(file, ring);
    const codecOf = (strict: boolean) => dataConverterFor({ PAYLOAD_KEY_RING_FILE: file, PAYLOAD_ENCRYPTION_STRICT: strict }).payloadCodecs![0]!;
    const plain = toPayload(booking);
    await expect(codecOf(true).decode([plain])).rejects.toThrow(/strict mode/);
    expect(await codecOf(false).decode([plain])).toEqual([plain]);
    expect(loadConfig({ PAYLOAD_ENCRYPTION_STRICT: 'true' }).PAYLOAD_ENCRYPTION_STRICT).toBe(true);
    expect(loadConfig({}).PAYLOAD_ENCRYPTION_STRICT).toBe(false);
  });

  it('names the unknown key ID, and never a key, when the ring lacks it', async () => {
    const [encoded] = await new EncryptionCodec(newKeyRing('retired-key')).encode([toPayload(booking)]);
    const error = await codec.decode([encoded!]).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/retired-key/);
    expect((error as Error).message).not.toContain(ring.keys.get('k1')!.toString('base64'));
  });

  it('refuses a payload whose ciphertext was altered', async () => {
    const [encoded] = await codec.encode([toPayload(booking)]);
    const data = Buffer.from(encoded!.data!);
    data[20]! ^= 0x01;
    await expect(codec.decode([{ ...encoded!, data }])).rejects.toThrow(/key ID k1\) failed authentication/);
  });

  it('puts failure messages and stack traces into the encoded attributes, which the codec encrypts', async () => {
    const failure = failureConverter.errorToFailure(ApplicationFailure.create({ message: 'no room for Jane Doe' }), defaultPayloadConverter);
    expect(failure.message).not.toContain('Jane Doe');
    expect(failure.stackTrace ?? '').toBe('');
    const [encrypted] = await codec.encode([failure.encodedAttributes!]);
    expect(bytes(encrypted!)).not.toContain('Jane Doe');
    const [decrypted] = await codec.decode([encrypted!]);
    const error = failureConverter.failureToError({ ...failure, encodedAttributes: decrypted }, defaultPayloadConverter);
    expect(error.message).toBe('no room for Jane Doe');
  });
});

describe('the payload key ring file', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'key-ring-'));

  it('is written for its owner only and read back with the same keys', () => {
    const file = path.join(dir(), 'secrets', 'ring.json');
    const ring = rotated(newKeyRing('k1'), 'k2');
    writeKeyRing(file, ring);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const read = readKeyRing(file);
    expect(read.currentKeyId).toBe('k2');
    expect([...read.keys.keys()]).toEqual(['k1', 'k2']);
    expect(read.keys.get('k1')).toEqual(ring.keys.get('k1'));
  });

  it('when missing, stops the start-up with an error saying how to get one', () => {
    const file = path.join(dir(), 'nope.json');
    expect(() => dataConverterFor({ PAYLOAD_KEY_RING_FILE: file })).toThrow(new RegExp(`No payload key ring at ${file}.*npm run stack.*PAYLOAD_KEY_RING_FILE`));
  });

  it('is refused when a key is not 32 bytes or the current key is not in it, without quoting the key', () => {
    const file = path.join(dir(), 'ring.json');
    const short = Buffer.alloc(16, 7).toString('base64');
    writeFileSync(file, JSON.stringify({ currentKeyId: 'k1', keys: { k1: short } }), { mode: 0o600 });
    expect(() => readKeyRing(file)).toThrow(/keys\.k1: must be 32 bytes/);
    expect(() => readKeyRing(file)).not.toThrow(new RegExp(short.replaceAll('+', '\\+')));
    writeFileSync(file, JSON.stringify({ currentKeyId: 'k9', keys: { k1: Buffer.alloc(32).toString('base64') } }), { mode: 0o600 });
    expect(() => readKeyRing(file)).toThrow(/currentKeyId must name one of the keys/);
  });

  it('is refused when the current key ID is only inherited by every object (constructor, toString), not a key of the ring', () => {
    const file = path.join(dir(), 'ring.json');
    for (const currentKeyId of ['constructor', 'toString', '__proto__']) {
      writeFileSync(file, JSON.stringify({ currentKeyId, keys: { k1: Buffer.alloc(32).toString('base64') } }), { mode: 0o600 });
      expect(() => readKeyRing(file)).toThrow(/currentKeyId must name one of the keys/);
    }
  });

  it('is refused when group or others may read it, saying how to fix it; its owner alone is fine', () => {
    const file = path.join(dir(), 'ring.json');
    writeKeyRing(file, newKeyRing('k1'));
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(file, mode);
      expect(() => readKeyRing(file)).toThrow(`is open to group or others (mode 0${mode.toString(8)}); make it its owner's only: chmod 600 ${file}`);
    }
    chmodSync(file, 0o400);
    expect(readKeyRing(file).currentKeyId).toBe('k1');
  });
});
