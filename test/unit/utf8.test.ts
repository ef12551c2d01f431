import { describe, expect, it } from 'vitest';
import { decodeUtf8, printable, readable } from '../../src/bridges/utf8';

describe('readable bytes', () => {
  it('shows UTF-8 text as it is and every control character or non-UTF-8 byte as \\xNN, on one line', () => {
    expect(readable(Buffer.from('{"name":"Ñúñez 東京 ✓"}'))).toBe('{"name":"Ñúñez 東京 ✓"}');
    expect(readable(Buffer.from([0x00, 0x00, 0x00, 0x00, 0x2a, 0x02, 0x41]))).toBe('\\x00\\x00\\x00\\x00*\\x02A');
    expect(readable(Buffer.from('PAGO-ÑUÑEZ\n', 'latin1'))).toBe('PAGO-\\xd1U\\xd1EZ\\x0a');
    // An overlong NUL, a UTF-16 surrogate and a sequence cut short are not UTF-8 either.
    expect(readable(Buffer.from([0xc0, 0x80, 0xed, 0xa0, 0x80, 0x41, 0xe2, 0x9c]))).toBe('\\xc0\\x80\\xed\\xa0\\x80A\\xe2\\x9c');
  });

  it('escapes C1 controls and keeps a byte order mark', () => {
    expect(printable('a\u0085b\u001b[31m')).toBe('a\\xc2\\x85b\\x1b[31m');
    expect(readable(Buffer.from('\ufeff{}'))).toBe('\ufeff{}');
  });
});

describe('strict UTF-8 decoding', () => {
  it('names the first byte that is not UTF-8 instead of replacing it', () => {
    const latin1 = Buffer.from('{"paymentId":"PAGO-ÑUÑEZ"}', 'latin1');
    expect(decodeUtf8(latin1)).toEqual({ invalidAt: latin1.indexOf(0xd1) });
    expect(decodeUtf8(Buffer.from([0x41, 0xc0, 0x80]))).toEqual({ invalidAt: 1 });
    expect(decodeUtf8(Buffer.from([0x41, 0x42, 0xed, 0xa0, 0x80]))).toEqual({ invalidAt: 2 });
    expect(decodeUtf8(Buffer.from([0x41, 0x42, 0x43, 0xe2, 0x9c]))).toEqual({ invalidAt: 3 });
  });

  it('decodes valid UTF-8, NUL and byte order mark included, exactly', () => {
    expect(decodeUtf8(Buffer.from('\ufeff{"name":"Ñúñez 東京 😀\u0000"}'))).toEqual({ text: '\ufeff{"name":"Ñúñez 東京 😀\u0000"}' });
  });
});
