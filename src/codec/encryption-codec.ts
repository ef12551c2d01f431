import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { plainPayloadRefused } from '../contracts/undecodable-run';
import type { KeyRing } from './key-ring';

/** The metadata Temporal's own encryption samples use, so their tools and codec servers recognise ours. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';

const IV_BYTES = 12; // GCM's standard nonce; random per payload, so one key can encrypt 2^32 payloads safely
const TAG_BYTES = 16;
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * A payload this process cannot decrypt: no key ID, a key its ring lacks, or a failed check. The
 * message names the key ID when there is one, never a key or anything of the payload; the same
 * ring fails the same way every time.
 */
export class UndecodablePayload extends ValueError {
  constructor(
    message: string,
    /** The key ID the payload names, when it names one: what a worker flagging its run reports. */
    readonly keyId?: string,
  ) {
    super(message);
  }
}

/**
 * Encrypts each whole payload (its metadata too: the encoding says what the data is) with
 * AES-256-GCM, so Temporal's server, its database and its Web UI see only ciphertext. GCM's tag
 * makes a changed byte a decryption error instead of wrong data.
 *
 * Decoding leaves a payload that is not encrypted as it is, so histories written before the codec
 * (test/histories, runs started before it was deployed) keep replaying; unless `strict`
 * (PAYLOAD_ENCRYPTION_STRICT, on in docker-compose.yml), which refuses it: anyone who can reach
 * Temporal could otherwise start or signal a run with a forged plain-JSON payload.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly strict: boolean;

  constructor(
    private readonly ring: KeyRing,
    { strict = false }: { strict?: boolean } = {},
  ) {
    this.strict = strict;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.ring.currentKeyId;
    const key = this.ring.keys.get(keyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [METADATA_ENCRYPTION_KEY_ID]: Buffer.from(keyId),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) {
        if (!this.strict) return payload;
        throw new UndecodablePayload(`${plainPayloadRefused}, and strict mode (PAYLOAD_ENCRYPTION_STRICT) refuses plain payloads`);
      }
      const keyId = text(payload.metadata?.[METADATA_ENCRYPTION_KEY_ID]);
      if (!keyId) throw new UndecodablePayload('Encrypted payload has no encryption-key-id metadata');
      const key = this.ring.keys.get(keyId);
      if (!key) throw new UndecodablePayload(`Encrypted payload names key ID ${keyId}, which is not in the payload key ring`, keyId);
      const data = Buffer.from(payload.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES) throw new UndecodablePayload(`Encrypted payload (key ID ${keyId}) is too short`, keyId);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new UndecodablePayload(`Encrypted payload (key ID ${keyId}) failed authentication: altered, or another key with that ID`, keyId);
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}
