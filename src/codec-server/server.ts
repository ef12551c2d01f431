import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import type { Pool } from 'pg';
import { z } from 'zod';
import { EncryptionCodec } from '../codec/encryption-codec';
import type { KeyRing } from '../codec/key-ring';
import type { Config } from '../config';
import { logger } from '../logger';
import { createAccessAudit } from './access-audit';
import { createFailureLimiter, type FailureLimits } from './failure-limiter';
import { claimedName, createOperatorStore, type Operator } from './operators';
import { createSessionStore, type SessionLimits } from './sessions';

/**
 * Temporal's remote codec protocol over the payload codec, so that a named operator can read
 * payloads in the Web UI and the `temporal` CLI while the server stores only ciphertext.
 *
 *   POST /decode, /encode   { payloads: [{ metadata: { k: base64 }, data: base64 }] } -> the same shape
 *                           needs the operator's credential as `Authorization: Bearer <name>.<secret>`
 *                           (CLI: --codec-auth) or a session cookie from /login (the Web UI, with
 *                           "Include cross-origin credentials"); /encode also needs the 'encode' role
 *   GET  /login             a form for the credential; POST /login starts a session, POST /logout ends it
 *   GET  /health            200, for the stack scripts
 *
 * Every /decode and /encode, and every refusal, writes a row to `codec_access_audit` before it is
 * answered: a decode whose row cannot be written is not answered. Failed sign-ins (a wrong
 * credential, at /login or as a Bearer header) are limited per remote address and per claimed name.
 *
 * Browsers may call /decode and /encode from the Web UI's origin only (CORS with credentials), and
 * /login and /logout from the codec server's own pages only; any other origin is refused, so
 * another page on this machine cannot have a signed-in browser decode for it, nor sign it in or out.
 */
export interface CodecServerOptions {
  ring: KeyRing;
  db: Pool;
  /** The Web UI's origin, e.g. http://127.0.0.1:8233. */
  uiOrigin: string;
  sessions: SessionLimits;
  failedLogins: FailureLimits;
  /** Marks the session cookie Secure: set when browsers reach the server over HTTPS (a TLS proxy in front). */
  secureCookie?: boolean;
}

export interface CodecServer {
  server: Server;
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

// Protobuf JSON leaves out empty fields: the CLI sends `{}` for no payloads, and `{}` for an empty one.
const jsonPayloads = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()).nullish(), data: z.string().nullish() })).default([]),
});
/** A payload as Temporal's remote codec protocol carries it: base64 metadata values and data. */
export type JsonPayload = z.infer<typeof jsonPayloads>['payloads'][number];

/** PostgreSQL connections of one codec-server process: a few queries per request, none held. */
export const codecServerPoolSize = 5;

const maxBodyBytes = 16 * 1024 * 1024; // a page of history; Temporal caps one payload at 2 MB
// A credential is about 100 bytes; nothing bigger needs reading before it is checked.
export const maxLoginBodyBytes = 4 * 1024;

/** Every response: no page of this server may be framed (clickjacking a sign-in or sign-out). */
const securityHeaders = { 'content-security-policy': "frame-ancestors 'none'", 'x-frame-options': 'DENY', 'cache-control': 'no-store' };

/** A refusal; with an `outcome` it is written to the access audit under that name. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly outcome?: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** What the access audit records of one request, filled in as the request is handled. */
interface Attempt {
  route: string;
  operator?: string;
  authenticated: boolean;
  payloads?: number;
  audited: boolean;
}

/** Whether browsers reach the codec server over HTTPS: then its session cookie is Secure. */
export const servedOverHttps = (config: Pick<Config, 'CODEC_SERVER_URL' | 'CODEC_SERVER_PUBLIC_URL'>) =>
  new URL(config.CODEC_SERVER_PUBLIC_URL ?? config.CODEC_SERVER_URL).protocol === 'https:';

export const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});
export const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? []).toString('base64'),
});

export function createCodecServer(options: CodecServerOptions): CodecServer {
  const { ring, db, uiOrigin } = options;
  const log = logger.child({ component: 'codec-server' });
  const codec = new EncryptionCodec(ring);
  const operators = createOperatorStore(db);
  const sessions = createSessionStore(db, options.sessions);
  const audit = createAccessAudit(db);
  const failedLogins = createFailureLimiter(options.failedLogins);
  const sessionHours = options.sessions.maxAgeMs / 3_600_000;
  // Browsers send a 127.0.0.1 cookie to every port of that host, the Web UI's server too: the
  // cookie holds a random session ID, which is nothing without this server's table.
  let cookieName = 'codec_session';

  const service: CodecServer = {
    server: createServer((req, res) => {
      const attempt: Attempt = { route: `${req.method} ${new URL(req.url ?? '/', 'http://codec').pathname}`, authenticated: false, audited: false };
      handle(req, res, attempt).catch(async (err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status >= 500) log.error({ err }, 'Request failed');
        const outcome = err instanceof HttpError ? err.outcome : codedRoutes.has(attempt.route) ? 'error' : undefined;
        if (outcome && !attempt.audited) {
          await record(req, attempt, outcome, status).catch((auditErr: unknown) => log.error({ err: auditErr }, 'Could not write the access audit row of a refusal'));
        }
        // An unexpected error's message (PostgreSQL's quote values) stays in the log, not the answer.
        const message = err instanceof HttpError ? err.message : 'internal error';
        if (!res.headersSent) send(req, res, status, { error: message }, err instanceof HttpError ? err.headers : {});
      });
    }),
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        service.server.once('error', reject);
        service.server.listen(port, host, () => {
          const bound = (service.server.address() as AddressInfo).port;
          // One cookie per codec server: two stacks on one host must not sign each other out.
          cookieName = `codec_session_${bound}`;
          resolve(`http://${host}:${bound}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        service.server.closeAllConnections();
        service.server.close((err) => (err ? reject(err) : resolve()));
      }),
  };

  function record(req: IncomingMessage, attempt: Attempt, outcome: string, httpStatus: number): Promise<void> {
    attempt.audited = true;
    const namespace = req.headers['x-namespace'];
    return audit({
      operator: attempt.operator,
      authenticated: attempt.authenticated,
      remoteAddress: req.socket.remoteAddress,
      namespace: typeof namespace === 'string' ? namespace.slice(0, 255) : undefined,
      route: attempt.route,
      payloads: attempt.payloads,
      outcome,
      httpStatus,
    });
  }

  /** CORS headers for the Web UI's origin only; other origins get none, so their pages cannot read answers. */
  function corsHeaders(req: IncomingMessage): Record<string, string> {
    if (req.headers.origin !== uiOrigin) return {};
    return { 'access-control-allow-origin': uiOrigin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
  }

  function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...securityHeaders, ...corsHeaders(req), ...headers });
    res.end(JSON.stringify(body));
  }

  function page(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...securityHeaders, ...headers });
    res.end(`<!doctype html><html><head><title>Codec server</title></head><body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">${html}</body></html>`);
  }

  function cookie(req: IncomingMessage): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === cookieName) return value.join('=');
    }
    return undefined;
  }

  function setCookie(value: string, maxAgeS: number): Record<string, string> {
    // SameSite=Strict still reaches the codec server from the Web UI: another port of the same host is the same site.
    const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${maxAgeS}`, ...(options.secureCookie ? ['Secure'] : [])];
    return { 'set-cookie': [`${cookieName}=${value}`, ...attributes].join('; ') };
  }

  /**
   * A sign-in attempt with a credential: refused while its address or claimed name has too many
   * recent failures; a wrong credential counts against both.
   */
  async function signIn(req: IncomingMessage, attempt: Attempt, credential: string): Promise<Operator> {
    const name = claimedName(credential);
    attempt.operator = name;
    const keys = [`address:${req.socket.remoteAddress}`, ...(name ? [`operator:${name}`] : [])];
    if (failedLogins.blocked(keys)) {
      const retryAfterS = String(Math.ceil(options.failedLogins.windowMs / 1000));
      throw new HttpError(429, 'too many failed sign-ins; try again later', 'refused-rate-limited', { 'retry-after': retryAfterS });
    }
    const operator = await operators.authenticate(credential);
    if (!operator) {
      failedLogins.fail(keys);
      log.warn({ operator: name, remoteAddress: req.socket.remoteAddress, route: attempt.route }, 'Failed codec server sign-in');
      throw new HttpError(401, 'a valid operator credential is required (Authorization: Bearer <name>.<secret>, or sign in at /login)', 'refused-bad-credential');
    }
    attempt.authenticated = true;
    return operator;
  }

  /** The operator of a request to /decode or /encode: its Bearer credential or its session cookie. */
  async function caller(req: IncomingMessage, attempt: Attempt): Promise<Operator> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return signIn(req, attempt, bearer);
    const id = cookie(req);
    const operator = id === undefined ? undefined : await sessions.resume(id);
    if (!operator) {
      throw new HttpError(401, 'sign in at /login (your session ended or was never started), or send Authorization: Bearer <name>.<secret>',
        id === undefined ? 'refused-no-credential' : 'refused-session-ended');
    }
    attempt.operator = operator.name;
    attempt.authenticated = true;
    return operator;
  }

  /** /login and /logout answer forms posted from this server's own pages (or tools that send no Origin). */
  function checkOwnOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host) throw new HttpError(403, `origin ${origin} may not sign in or out here`, 'refused-origin');
  }

  async function readBody(req: IncomingMessage, limit: number): Promise<string> {
    if (Number(req.headers['content-length'] ?? 0) > limit) throw new HttpError(413, 'body too large', 'refused-body-too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new HttpError(413, 'body too large', 'refused-body-too-large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse, attempt: Attempt): Promise<void> {
    const { route } = attempt;
    const pathname = route.slice(route.indexOf(' ') + 1);
    // A browser page of any other origin is refused before anything else, signed in or not.
    if (req.headers.origin !== undefined && req.headers.origin !== uiOrigin && !['/login', '/logout'].includes(pathname)) {
      throw new HttpError(403, `origin ${req.headers.origin} may not use this codec server`, 'refused-origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...securityHeaders,
        ...corsHeaders(req),
        'access-control-allow-methods': 'POST, OPTIONS',
        // Authorization-Extras: the UI sends the user's ID token in it when "Pass access token" is on.
        'access-control-allow-headers': 'Authorization, Authorization-Extras, Content-Type, X-Namespace',
        'access-control-max-age': '600',
      });
      return void res.end();
    }
    if (route === 'GET /health') return send(req, res, 200, { status: 'ok' });
    if (route === 'GET /login') return page(res, 200, loginForm());
    if (route === 'POST /login') {
      checkOwnOrigin(req);
      const credential = new URLSearchParams(await readBody(req, maxLoginBodyBytes)).get('credential') ?? '';
      let operator: Operator;
      try {
        operator = await signIn(req, attempt, credential);
      } catch (err) {
        if (!(err instanceof HttpError) || err.status !== 401) throw err;
        await record(req, attempt, err.outcome!, 401);
        return page(res, 401, `<p><b>Wrong credential.</b></p>${loginForm()}`);
      }
      const id = await sessions.start(operator.name, req.socket.remoteAddress);
      await record(req, attempt, 'signed-in', 200);
      log.info({ operator: operator.name }, 'Operator signed in');
      return page(res, 200, signedIn(operator), setCookie(id, options.sessions.maxAgeMs / 1000));
    }
    if (route === 'POST /logout') {
      checkOwnOrigin(req);
      const id = cookie(req);
      if (id !== undefined) {
        const operator = await sessions.resume(id);
        attempt.operator = operator?.name;
        attempt.authenticated = operator !== undefined;
        await sessions.revoke(id);
      }
      await record(req, attempt, 'signed-out', 200);
      return page(res, 200, '<p>Signed out.</p>', setCookie('', 0));
    }
    if (codedRoutes.has(route)) {
      const operator = await caller(req, attempt);
      const encoding = route === 'POST /encode';
      // Encoding writes what workers will trust as a run's input; reading needs less.
      if (encoding && !operator.roles.includes('encode')) {
        throw new HttpError(403, `operator ${operator.name} may decode but not encode`, 'refused-no-encode-role');
      }
      const parsed = jsonPayloads.safeParse(parseJson(await readBody(req, maxBodyBytes)));
      if (!parsed.success) throw new HttpError(400, 'body must be { payloads: [{ metadata, data }] } with base64 values', 'refused-bad-request');
      const payloads = parsed.data.payloads.map(fromJson);
      attempt.payloads = payloads.length;
      let result: Payload[];
      try {
        result = encoding ? await codec.encode(payloads) : await codec.decode(payloads);
      } catch (err) {
        // The codec's messages name a key ID at most, never a key or a payload.
        throw new HttpError(422, (err as Error).message, 'failed-undecodable');
      }
      // Written before the answer: a decode nobody could audit is not answered.
      await record(req, attempt, encoding ? 'encoded' : 'decoded', 200);
      return send(req, res, 200, { payloads: result.map(toJson) });
    }
    throw new HttpError(404, `no route ${route}`);
  }

  function signedIn(operator: Operator): string {
    return `<p><b>Signed in</b> as ${operator.name} for at most ${sessionHours} hours
(the session ends sooner after ${options.sessions.idleMs / 60_000} minutes unused, or when you sign out).</p>
<p>In the Temporal Web UI (${uiOrigin}), open the codec server settings (the data encoder icon),
choose "Use my browser setting", set the endpoint to this server's address and tick
<i>Include cross-origin credentials</i>. Payloads then show decoded.</p>
<form method="post" action="/logout"><button>Sign out</button></form>`;
  }
  return service;
}

const codedRoutes = new Set(['POST /decode', 'POST /encode']);

function loginForm(): string {
  return `<h1>Codec server</h1>
<p>Paste your operator credential (<code>name.secret</code>, from <code>npm run codec-operators -- add</code> or <code>rotate</code>)
to let this browser decode payloads in the Temporal Web UI. Every decode is recorded under your name.</p>
<form method="post" action="/login"><input type="password" name="credential" autocomplete="off" size="60" autofocus> <button>Sign in</button></form>`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}
