import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { newKeyRing } from '../../src/codec/key-ring';
import { createCodecServer, type CodecServer } from '../../src/codec-server/server';

/** The codec server on a free port with a throw-away key ring, spoken to as the Web UI and the CLI do. */
describe('the codec server', () => {
  const ring = newKeyRing('k1');
  const token = 'test-token-0123456789abcdefghijklmnopqrstuvwxyz';
  const uiOrigin = 'http://127.0.0.1:8233';
  let server: CodecServer;
  let url: string;
  let encrypted: Payload;
  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });
  const decodeRequest = (headers: Record<string, string>) =>
    fetch(`${url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      body: JSON.stringify({ payloads: [asJson(encrypted)] }),
    });

  beforeAll(async () => {
    server = createCodecServer({ ring, token, uiOrigin });
    url = await server.listen(0);
    [encrypted] = await new EncryptionCodec(ring).encode([defaultPayloadConverter.toPayload({ userId: 'user_jane_doe' })!]) as [Payload];
  });
  afterAll(async () => server?.close());

  it('refuses to decode without a token, or with a wrong one', async () => {
    expect((await decodeRequest({})).status).toBe(401);
    expect((await decodeRequest({ authorization: 'Bearer not-the-token' })).status).toBe(401);
    const refused = await (await decodeRequest({ authorization: `Bearer ${token}x` })).text();
    expect(refused).not.toContain('user_jane_doe');
  });

  it('decodes with the token as a Bearer header, as the CLI sends it (--codec-auth)', async () => {
    const res = await decodeRequest({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const { payloads } = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual({ userId: 'user_jane_doe' });
  });

  it('encodes with the token, and what it encodes it decodes', async () => {
    const plain = asJson(defaultPayloadConverter.toPayload('hello')!);
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then(
        (r) => r.json() as Promise<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>,
      );
    const encoded = await post('/encode', { payloads: [plain] });
    expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect((await post('/decode', encoded)).payloads).toEqual([plain]);
  });

  it('takes an empty body for no payloads, as the CLI sends one (protobuf JSON leaves out an empty list)', async () => {
    const res = await fetch(`${url}/encode`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ payloads: [] });
  });

  it('answers the Web UI origin\'s CORS preflight, with credentials and the headers the UI sends', async () => {
    const res = await fetch(`${url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(/, */)).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'x-namespace']),
    );
  });

  it('refuses any other origin, signed in or not', async () => {
    const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect((await decodeRequest({ origin: 'http://127.0.0.1:9999', authorization: `Bearer ${token}` })).status).toBe(403);
  });

  it('signs a browser in with the token (a session cookie, not the token), which then decodes from the UI origin', async () => {
    const wrong = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const login = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^codec_session_\d+=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    expect(setCookie).not.toContain(token);
    const cookie = setCookie.split(';')[0]!;
    const res = await decodeRequest({ origin: uiOrigin, cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await decodeRequest({ origin: uiOrigin, cookie: `${cookie}x` })).status).toBe(401);
  });

  it('says which key is missing, and nothing more, when a payload names a key it does not have', async () => {
    [encrypted] = await new EncryptionCodec(newKeyRing('k-unknown')).encode([defaultPayloadConverter.toPayload('x')!]) as [Payload];
    const res = await decodeRequest({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/key ID k-unknown/);
  });
});
