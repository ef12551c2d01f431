// ignoreBOM keeps a leading byte order mark in the text, so decoding never drops a byte.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits bytes into UTF-8 characters. A byte that starts no valid character comes alone and
 * without text, so a reader can point at it.
 */
function* characters(bytes: Uint8Array): Generator<{ at: number; length: number; text?: string }> {
  for (let at = 0; at < bytes.length; ) {
    const lead = bytes[at]!;
    if (lead < 0x80) {
      yield { at, length: 1, text: String.fromCharCode(lead) };
      at += 1;
      continue;
    }
    // The lead byte says how long the sequence is; the decoder judges its continuation bytes.
    const length = lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0;
    let text: string | undefined;
    try {
      if (length) text = strictUtf8.decode(bytes.subarray(at, at + length));
    } catch {
      // not a valid sequence: `text` stays undefined
    }
    yield text === undefined ? { at, length: 1 } : { at, length, text };
    at += text === undefined ? 1 : length;
  }
}

/** The text the bytes encode, or the offset of the first byte that is not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): { text: string } | { invalidAt: number } {
  try {
    return { text: strictUtf8.decode(bytes) };
  } catch {
    for (const c of characters(bytes)) if (c.text === undefined) return { invalidAt: c.at };
    throw new Error('UTF-8 decoding failed but every character is valid');
  }
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');

/**
 * The text with its control characters (NUL, line breaks, terminal escapes) written as \xNN:
 * PostgreSQL text refuses a NUL, and a log line or table cell stays one line.
 */
export const printable = (text: string): string => text.replace(/\p{Cc}/gu, (c) => hex(Buffer.from(c)));

/** Bytes for a person to read: UTF-8 text as it is, control characters and other bytes as \xNN. */
export const readable = (bytes: Uint8Array): string =>
  Array.from(characters(bytes), (c) => (c.text === undefined ? hex(bytes.subarray(c.at, c.at + 1)) : printable(c.text))).join('');
