import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec } from '../codec/encryption-codec';
import type { KeyRing } from '../codec/key-ring';
import { logger } from '../logger';

/**
 * Temporal's remote codec protocol over the payload codec, so that an operator with the token can
 * read payloads in the Web UI and the `temporal` CLI while the server stores only ciphertext.
 *
 *   POST /decode, /encode   { payloads: [{ metadata: { k: base64 }, data: base64 }] } -> the same shape
 *                           needs `Authorization: Bearer <token>` (CLI: --codec-auth) or the session
 *                           cookie from /login (the Web UI, with "Include cross-origin credentials")
 *   GET  /login             a form for the token; POST /login sets the session cookie, /logout clears it
 *   GET  /health            200, for the stack scripts
 *
 * Browsers may call it from the Web UI's origin only (CORS with credentials); any other origin is
 * refused, so another page on this machine cannot have a signed-in browser decode for it.
 */
export interface CodecServerOptions {
  ring: KeyRing;
  token: string;
  /** The Web UI's origin, e.g. http://127.0.0.1:8233. */
  uiOrigin: string;
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

const maxBodyBytes = 16 * 1024 * 1024; // a page of history; Temporal caps one payload at 2 MB
const sessionMaxAgeS = 8 * 60 * 60;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});
export const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? []).toString('base64'),
});

/** Compares digests, so neither the length nor the first differing byte shows in the timing. */
const sameSecret = (a: string, b: string) =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

export function createCodecServer({ ring, token, uiOrigin }: CodecServerOptions): CodecServer {
  const log = logger.child({ component: 'codec-server' });
  const codec = new EncryptionCodec(ring);
  // Browsers send a 127.0.0.1 cookie to every port of that host, the Web UI's server too: the
  // cookie holds a value derived from the token, never the token.
  const session = createHmac('sha256', token).update('temporal-pipelines codec-server session').digest('base64url');
  let cookieName = 'codec_session';

  const service: CodecServer = {
    server: createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status >= 500) log.error({ err }, 'Request failed');
        if (!res.headersSent) send(req, res, status, { error: (err as Error).message });
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

  /** CORS headers for the Web UI's origin only; other origins get none, so their pages cannot read answers. */
  function corsHeaders(req: IncomingMessage): Record<string, string> {
    if (req.headers.origin !== uiOrigin) return {};
    return { 'access-control-allow-origin': uiOrigin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
  }

  function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...corsHeaders(req), ...headers });
    res.end(JSON.stringify(body));
  }

  function page(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(`<!doctype html><html><head><title>Codec server</title></head><body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">${html}</body></html>`);
  }

  function cookie(req: IncomingMessage): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === cookieName) return value.join('=');
    }
    return undefined;
  }

  function authorized(req: IncomingMessage): boolean {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return sameSecret(bearer, token);
    const fromCookie = cookie(req);
    return fromCookie !== undefined && sameSecret(fromCookie, session);
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBodyBytes) throw new HttpError(413, 'body too large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://codec');
    // A browser page of any other origin is refused before anything else, signed in or not.
    if (req.headers.origin !== undefined && req.headers.origin !== uiOrigin && !['/login', '/logout'].includes(pathname)) {
      throw new HttpError(403, `origin ${req.headers.origin} may not use this codec server`);
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...corsHeaders(req),
        'access-control-allow-methods': 'POST, OPTIONS',
        // Authorization-Extras: the UI sends the user's ID token in it when "Pass access token" is on.
        'access-control-allow-headers': 'Authorization, Authorization-Extras, Content-Type, X-Namespace',
        'access-control-max-age': '600',
      });
      return void res.end();
    }
    const route = `${req.method} ${pathname}`;
    if (route === 'GET /health') return send(req, res, 200, { status: 'ok' });
    if (route === 'GET /login') return page(res, 200, loginForm());
    if (route === 'POST /login') {
      const given = new URLSearchParams(await readBody(req)).get('token') ?? '';
      if (!sameSecret(given, token)) return page(res, 401, `<p><b>Wrong token.</b></p>${loginForm()}`);
      log.info('Browser signed in');
      return page(res, 200, signedIn(), {
        // SameSite=Strict still reaches the codec server from the Web UI: another port of the same host is the same site.
        'set-cookie': `${cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${sessionMaxAgeS}`,
      });
    }
    if (route === 'POST /logout') {
      return page(res, 200, '<p>Signed out.</p>', { 'set-cookie': `${cookieName}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
    }
    if (route === 'POST /decode' || route === 'POST /encode') {
      if (!authorized(req)) throw new HttpError(401, 'a valid codec server token is required (Authorization: Bearer, or sign in at /login)');
      const parsed = jsonPayloads.safeParse(parseJson(await readBody(req)));
      if (!parsed.success) throw new HttpError(400, 'body must be { payloads: [{ metadata, data }] } with base64 values');
      const payloads = parsed.data.payloads.map(fromJson);
      const namespace = req.headers['x-namespace'];
      let result: Payload[];
      try {
        result = route === 'POST /decode' ? await codec.decode(payloads) : await codec.encode(payloads);
      } catch (err) {
        // The codec's messages name a key ID at most, never a key or a payload.
        throw new HttpError(422, (err as Error).message);
      }
      log.debug({ route, namespace, payloads: payloads.length }, 'Payloads coded');
      return send(req, res, 200, { payloads: result.map(toJson) });
    }
    throw new HttpError(404, `no route ${route}`);
  }

  function signedIn(): string {
    return `<p><b>Signed in</b> for ${sessionMaxAgeS / 3600} hours.</p>
<p>In the Temporal Web UI (${uiOrigin}), open the codec server settings (the data encoder icon),
choose "Use my browser setting", set the endpoint to this server's address and tick
<i>Include cross-origin credentials</i>. Payloads then show decoded.</p>
<form method="post" action="/logout"><button>Sign out</button></form>`;
  }
  return service;
}

function loginForm(): string {
  return `<h1>Codec server</h1>
<p>Paste the codec server token (the file named by CODEC_SERVER_TOKEN_FILE) to let this browser decode payloads in the Temporal Web UI.</p>
<form method="post" action="/login"><input type="password" name="token" autocomplete="off" size="50" autofocus> <button>Sign in</button></form>`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}
