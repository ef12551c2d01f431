import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { newKeyRing } from '../../src/codec/key-ring';
import { createOperatorStore } from '../../src/codec-server/operators';
import { createCodecServer, maxLoginBodyBytes, servedOverHttps, type CodecServer, type CodecServerOptions } from '../../src/codec-server/server';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { migrate } from '../../src/migrate';
import { createOwnerPool } from '../support/owner-db';

const run = promisify(execFile);

/**
 * The codec server on a free port with a throw-away key ring, spoken to as the Web UI and the CLI
 * do, over the stack's PostgreSQL (operators, sessions and the access audit live there).
 */
describe('the codec server', () => {
  const ring = newKeyRing('k1');
  const uiOrigin = 'http://127.0.0.1:8233';
  const id = randomUUID().slice(0, 8);
  const reader = `reader-${id}`; // may decode
  const writer = `writer-${id}`; // may decode and encode
  const added: string[] = [];
  let db: Pool;
  let owner: Pool;
  let credentials: Record<string, string>;
  const servers: CodecServer[] = [];
  let url: string;
  let encrypted: Payload;

  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });
  const decodeRequest = (headers: Record<string, string>, at = url) =>
    fetch(`${at}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      body: JSON.stringify({ payloads: [asJson(encrypted)] }),
    });
  const bearer = (name: string) => ({ authorization: `Bearer ${credentials[name]}` });
  const login = (credential: string, headers: Record<string, string> = {}, at = url) =>
    fetch(`${at}/login`, { method: 'POST', headers, body: new URLSearchParams({ credential }), redirect: 'manual' });
  const sessionCookie = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;
  const lastAuditId = async () => (await db.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM codec_access_audit')).rows[0]!.id;
  /** The access-audit rows written for `operator` after the row `since`, oldest first. */
  const auditRows = async (operator: string | null, since: string) =>
    (
      await db.query(
        `SELECT operator, authenticated, remote_address, namespace, route, payloads, outcome, http_status, row_to_json(a)::text AS whole
           FROM codec_access_audit a WHERE operator IS NOT DISTINCT FROM $1 AND id > $2 ORDER BY id`,
        [operator, since],
      )
    ).rows;

  async function start(overrides: Partial<CodecServerOptions> = {}): Promise<string> {
    const s = createCodecServer({
      ring,
      db,
      uiOrigin,
      sessions: { idleMs: 30 * 60_000, maxAgeMs: 8 * 3_600_000 },
      failedLogins: { maxFailures: 1_000, windowMs: 60_000 },
      ...overrides,
    });
    servers.push(s);
    return s.listen(0);
  }

  async function addOperator(name: string, roles: Array<'decode' | 'encode'>): Promise<string> {
    added.push(name);
    return createOperatorStore(owner).add(name, roles);
  }

  beforeAll(async () => {
    // The server runs as the application role; operators are managed, and the schema changed, as the owner.
    db = createPool(loadConfig());
    owner = createOwnerPool(loadConfig());
    await migrate(owner);
    credentials = { [reader]: await addOperator(reader, ['decode']), [writer]: await addOperator(writer, ['decode', 'encode']) };
    url = await start();
    [encrypted] = await new EncryptionCodec(ring).encode([defaultPayloadConverter.toPayload({ userId: 'user_jane_doe' })!]) as [Payload];
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    // Their sessions go with them; the audit rows stay, as they must.
    if (owner) await owner.query('DELETE FROM codec_operators WHERE name = ANY($1)', [added]);
    await db?.end();
    await owner?.end();
  });

  it('refuses to decode without a credential, or with a wrong one, and audits each refusal', async () => {
    const since = await lastAuditId();
    expect((await decodeRequest({})).status).toBe(401);
    const wrong = await decodeRequest({ authorization: `Bearer ${reader}.not-the-secret` });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain('user_jane_doe');
    expect((await decodeRequest({ authorization: `Bearer ${credentials[reader]}x` })).status).toBe(401);
    expect(await auditRows(reader, since)).toMatchObject([
      { authenticated: false, route: 'POST /decode', outcome: 'refused-bad-credential', http_status: 401 },
      { authenticated: false, route: 'POST /decode', outcome: 'refused-bad-credential', http_status: 401 },
    ]);
    const anonymous = (await auditRows(null, since)).filter((r) => r.outcome === 'refused-no-credential');
    expect(anonymous.length).toBeGreaterThanOrEqual(1);
  });

  it("decodes with an operator's credential as a Bearer header, as the CLI sends it, and audits who, from where, which namespace, how many", async () => {
    const since = await lastAuditId();
    const res = await decodeRequest(bearer(reader));
    expect(res.status).toBe(200);
    const { payloads } = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual({ userId: 'user_jane_doe' });
    const rows = await auditRows(reader, since);
    expect(rows).toMatchObject([
      { authenticated: true, namespace: 'default', route: 'POST /decode', payloads: 1, outcome: 'decoded', http_status: 200 },
    ]);
    expect(rows[0].remote_address).toMatch(/127\.0\.0\.1$/);
    // Who and how many, never what: neither the payload nor the credential is in the row.
    expect(rows[0].whole).not.toContain('user_jane_doe');
    expect(rows[0].whole).not.toContain(credentials[reader]!.split('.')[1]);
  });

  it('encodes only for an operator with the encode role: a decode-only operator gets 403, audited', async () => {
    const since = await lastAuditId();
    const plain = asJson(defaultPayloadConverter.toPayload('hello')!);
    const post = (path: string, name: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: bearer(name), body: JSON.stringify(body) });
    const encoded = (await (await post('/encode', writer, { payloads: [plain] })).json()) as { payloads: Array<{ metadata: Record<string, string> }> };
    expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(((await (await post('/decode', writer, encoded)).json()) as { payloads: unknown }).payloads).toEqual([plain]);

    const refused = await post('/encode', reader, { payloads: [plain] });
    expect(refused.status).toBe(403);
    expect(await auditRows(reader, since)).toMatchObject([
      { authenticated: true, route: 'POST /encode', outcome: 'refused-no-encode-role', http_status: 403 },
    ]);
  });

  it('takes an empty body for no payloads, as the CLI sends one (protobuf JSON leaves out an empty list)', async () => {
    const res = await fetch(`${url}/encode`, { method: 'POST', headers: bearer(writer), body: '{}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ payloads: [] });
  });

  it("answers the Web UI origin's CORS preflight, with credentials and the headers the UI sends", async () => {
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

  it('refuses any other origin, signed in or not, and audits it', async () => {
    const since = await lastAuditId();
    const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect((await decodeRequest({ origin: 'http://127.0.0.1:9999', ...bearer(reader) })).status).toBe(403);
    const refusals = (await auditRows(null, since)).filter((r) => r.outcome === 'refused-origin');
    expect(refusals.map((r) => r.route)).toEqual(expect.arrayContaining(['OPTIONS /decode', 'POST /decode']));
  });

  it('signs a browser in with its credential (a random session ID, not the credential), which then decodes from the UI origin as that operator', async () => {
    const since = await lastAuditId();
    const wrong = await login(`${reader}.nope`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const signedIn = await login(credentials[reader]!, { origin: url });
    expect(signedIn.status).toBe(200);
    const setCookie = signedIn.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^codec_session_\d+=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
    expect(setCookie).not.toContain('Secure'); // served over plain HTTP
    expect(setCookie).not.toContain(credentials[reader]!.split('.')[1]);
    const cookie = sessionCookie(signedIn);
    const res = await decodeRequest({ origin: uiOrigin, cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await decodeRequest({ origin: uiOrigin, cookie: `${cookie}x` })).status).toBe(401);
    expect((await auditRows(reader, since)).map((r) => [r.route, r.outcome, r.authenticated])).toEqual([
      ['POST /login', 'refused-bad-credential', false],
      ['POST /login', 'signed-in', true],
      ['POST /decode', 'decoded', true],
    ]);
  });

  it('ends a session at /logout: the same cookie is refused afterwards, and both are audited', async () => {
    const since = await lastAuditId();
    const cookie = sessionCookie(await login(credentials[reader]!));
    expect((await decodeRequest({ cookie })).status).toBe(200);
    const out = await fetch(`${url}/logout`, { method: 'POST', headers: { cookie, origin: url } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    // A copy of the cookie kept by anyone (the browser ignoring the deletion, a stolen one) is dead too.
    expect((await decodeRequest({ cookie })).status).toBe(401);
    expect((await auditRows(reader, since)).map((r) => r.outcome)).toEqual(['signed-in', 'decoded', 'signed-out']);
    expect((await auditRows(null, since)).map((r) => r.outcome)).toContain('refused-session-ended');
  });

  it('ends a session left unused past the idle limit, and one past its maximum age however much it is used', async () => {
    const idle = await start({ sessions: { idleMs: 400, maxAgeMs: 60_000 } });
    const idleCookie = sessionCookie(await login(credentials[reader]!, {}, idle));
    expect((await decodeRequest({ cookie: idleCookie }, idle)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    expect((await decodeRequest({ cookie: idleCookie }, idle)).status).toBe(401);

    const old = await start({ sessions: { idleMs: 60_000, maxAgeMs: 1_000 } });
    const oldCookie = sessionCookie(await login(credentials[reader]!, {}, old));
    for (let i = 0; i < 3; i++) {
      expect((await decodeRequest({ cookie: oldCookie }, old)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 800));
    expect((await decodeRequest({ cookie: oldCookie }, old)).status).toBe(401);
  });

  it('marks the session cookie Secure when browsers reach the server over HTTPS', async () => {
    const behindTls = await start({ secureCookie: true });
    expect((await login(credentials[reader]!, {}, behindTls)).headers.get('set-cookie')).toMatch(/; Secure(;|$)/);
    // Browsers reach it over HTTPS when its public address (or, unset, its own) says so.
    expect(servedOverHttps({ CODEC_SERVER_URL: 'http://codec-server:8088', CODEC_SERVER_PUBLIC_URL: 'https://codec.example.org' })).toBe(true);
    expect(servedOverHttps({ CODEC_SERVER_URL: 'https://codec.example.org', CODEC_SERVER_PUBLIC_URL: undefined })).toBe(true);
    expect(servedOverHttps({ CODEC_SERVER_URL: 'http://127.0.0.1:8088', CODEC_SERVER_PUBLIC_URL: undefined })).toBe(false);
  });

  it('does not answer a decode whose access-audit row cannot be written', async () => {
    const name = `unaudited-${id}`;
    const credential = await addOperator(name, ['decode']);
    const trigger = `codec_audit_fails_${id}`;
    await owner.query(`
      CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.operator = '${name}' THEN RAISE EXCEPTION 'audit outage (test)'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${trigger} BEFORE INSERT ON codec_access_audit FOR EACH ROW EXECUTE FUNCTION ${trigger}();`);
    try {
      const res = await decodeRequest({ authorization: `Bearer ${credential}` });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error' }); // neither the payload nor the database's message
    } finally {
      await owner.query(`DROP TRIGGER ${trigger} ON codec_access_audit; DROP FUNCTION ${trigger}()`);
    }
  });

  it('refuses a /login body over 4 KB before reading a credential out of it, and audits it', async () => {
    const since = await lastAuditId();
    const padded = `${credentials[reader]}&pad=${'x'.repeat(maxLoginBodyBytes)}`;
    const res = await fetch(`${url}/login`, { method: 'POST', body: `credential=${padded}` });
    expect(res.status).toBe(413);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect((await auditRows(null, since)).map((r) => [r.route, r.outcome])).toContainEqual(['POST /login', 'refused-body-too-large']);
  });

  it('refuses /login and /logout posted from another origin (a page that would sign the browser in or out)', async () => {
    const since = await lastAuditId();
    const foreign = await login(credentials[reader]!, { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    const cookie = sessionCookie(await login(credentials[reader]!, { origin: url }));
    expect((await fetch(`${url}/logout`, { method: 'POST', headers: { cookie, origin: 'http://evil.example' } })).status).toBe(403);
    expect((await decodeRequest({ cookie })).status).toBe(200); // still signed in
    expect((await auditRows(null, since)).filter((r) => r.outcome === 'refused-origin').map((r) => r.route)).toEqual(['POST /login', 'POST /logout']);
  });

  it("lets no other site frame the server's pages (Content-Security-Policy: frame-ancestors 'none')", async () => {
    for (const res of [await fetch(`${url}/login`), await login(credentials[reader]!), await decodeRequest(bearer(reader))]) {
      expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY'); // for browsers without CSP level 2
    }
  });

  it('limits failed sign-ins per remote address: past the limit even a right credential is refused (429), audited', async () => {
    const limited = await start({ failedLogins: { maxFailures: 3, windowMs: 60_000 } });
    const since = await lastAuditId();
    for (const guess of ['a', 'b', 'c']) expect((await login(`guess-${id}.${guess}`, {}, limited)).status).toBe(401);
    const refused = await login(credentials[writer]!, {}, limited);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('set-cookie')).toBeNull();
    expect((await decodeRequest(bearer(writer), limited)).status).toBe(429);
    expect((await auditRows(writer, since)).map((r) => [r.route, r.outcome, r.http_status])).toEqual([
      ['POST /login', 'refused-rate-limited', 429],
      ['POST /decode', 'refused-rate-limited', 429],
    ]);
    // Another codec server process keeps its own count (in memory): the credential itself still works.
    expect((await decodeRequest(bearer(writer))).status).toBe(200);
  });

  it('rotates, adds and removes operators with `npm run codec-operators`: a rotated credential and its sessions stop working at once', async () => {
    const cli = (...args: string[]) => run('npx', ['tsx', 'src/codec-server/operators-cli.ts', ...args], { env: process.env });
    const name = `rotated-${id}`;
    added.push(name);
    const first = (await cli('add', name)).stdout.trim();
    expect(first).toMatch(new RegExp(`^${name}\\.[A-Za-z0-9_-]{43}$`));
    const cookie = sessionCookie(await login(first));
    expect((await decodeRequest({ authorization: `Bearer ${first}` })).status).toBe(200);

    const second = (await cli('rotate', name)).stdout.trim();
    expect(second).not.toBe(first);
    expect((await decodeRequest({ authorization: `Bearer ${first}` })).status).toBe(401);
    expect((await decodeRequest({ cookie })).status).toBe(401);
    expect((await decodeRequest({ authorization: `Bearer ${second}` })).status).toBe(200);
    expect((await cli('list')).stdout).toMatch(new RegExp(`^${name}\\tdecode\\t`, 'm'));

    const lastCookie = sessionCookie(await login(second));
    await cli('remove', name);
    expect((await decodeRequest({ authorization: `Bearer ${second}` })).status).toBe(401);
    expect((await decodeRequest({ cookie: lastCookie })).status).toBe(401);
  });

  it('keeps the access audit append-only: UPDATE, DELETE and TRUNCATE fail, for its owner by trigger and for the application by privilege', async () => {
    for (const statement of ['UPDATE codec_access_audit SET outcome = outcome', 'DELETE FROM codec_access_audit', 'TRUNCATE codec_access_audit']) {
      await expect(owner.query(statement)).rejects.toThrow(/codec_access_audit is append-only/);
      await expect(db.query(statement)).rejects.toThrow(/permission denied for table codec_access_audit/);
    }
  });

  it('says which key is missing, and nothing more, when a payload names a key it does not have', async () => {
    [encrypted] = await new EncryptionCodec(newKeyRing('k-unknown')).encode([defaultPayloadConverter.toPayload('x')!]) as [Payload];
    const res = await decodeRequest(bearer(reader));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/key ID k-unknown/);
  });
});
