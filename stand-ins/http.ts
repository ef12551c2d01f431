import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'pg';
import { z } from 'zod';
import { logger, type Logger } from '../src/logger';
import { describeProblems } from '../src/schema-problems';

/**
 * What the stand-ins for other teams' and companies' systems share (the admin service, the
 * pharmacy network, the insurer, the carrier, the payment provider): a plain node:http server,
 * JSON in and out, its state in its own PostgreSQL tables, and fault injection on its business
 * endpoints only, so /health and /control stay usable while it "fails".
 *
 *   GET  /health           200 when it can reach its database
 *   POST /control/faults   { failNext?, failStatus?, failBody?, failForMs?, delayMs? }: the next failNext
 *                          business requests answer failStatus (with failBody when set, as a partner
 *                          whose error quotes the request), and so does every one for the next
 *                          failForMs (0 ends it); every business request first waits delayMs
 *   GET  /control/faults   the current faults (failForMs: what is left of it), how many business
 *                          requests arrived, and how many of them waited delayMs
 */

export interface Faults {
  failNext: number;
  failStatus: number;
  /** The body a failing request answers; unset, `{ error }` saying it fails on purpose. */
  failBody?: unknown;
  delayMs: number;
  /** Every business request answers failStatus until this moment (epoch ms); 0 when none. */
  failUntil: number;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Reply {
  status: number;
  body: unknown;
}

export interface StandInRequest {
  method: string;
  pathname: string;
  query: URLSearchParams;
  /** A request header's value (the name in any case), or undefined. */
  header(name: string): string | undefined;
  /** This server's own address as the caller reached it, for URLs in answers. */
  origin: string;
  json(): Promise<unknown>;
}

/**
 * A service's routes: returns the handler for a request, or undefined when none matches. Business
 * routes get the faults; control routes (`/control/...` beyond faults) never do.
 */
export interface Routes {
  business(req: StandInRequest): (() => Promise<Reply>) | undefined;
  control?(req: StandInRequest): (() => Promise<Reply>) | undefined;
}

export interface StandIn {
  name: string;
  server: Server;
  faults: Faults;
  /** Business requests received, faulted ones included (tests count retries with it). */
  requests: number;
  /** Business requests held back by `delayMs`: proof that a slow-partner fault met real calls. */
  delayed: number;
  /** Port 0 picks a free one. Resolves with the base URL. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

const faultsRequest = z.object({
  failNext: z.number().int().nonnegative().optional(),
  failStatus: z.number().int().min(400).max(599).optional(),
  failBody: z.unknown().optional(),
  failForMs: z.number().int().nonnegative().optional(),
  delayMs: z.number().int().nonnegative().optional(),
});

export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  // Paths and messages only: zod's messages name types, not the values (which may be personal data).
  if (!result.success) throw new HttpError(400, describeProblems(result.error));
  return result.data;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function createStandIn(name: string, db: Pool, routes: Routes, log: Logger = logger.child({ component: name })): StandIn {
  const standIn: StandIn = {
    name,
    faults: { failNext: 0, failStatus: 503, delayMs: 0, failUntil: 0 },
    requests: 0,
    delayed: 0,
    server: createServer((req, res) => {
      handle(req).then(
        (reply) => send(res, reply.status, reply.body),
        (err: unknown) => {
          const status = err instanceof HttpError ? err.status : 500;
          if (status === 500) log.error({ err }, 'Request failed');
          if (!res.headersSent) send(res, status, { error: (err as Error).message });
        },
      );
    }),
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        standIn.server.once('error', reject);
        standIn.server.listen(port, host, () => {
          resolve(`http://${host}:${(standIn.server.address() as AddressInfo).port}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        standIn.server.closeAllConnections();
        standIn.server.close((err) => (err ? reject(err) : resolve()));
      }),
  };

  async function handle(raw: IncomingMessage): Promise<Reply> {
    const { pathname, searchParams } = new URL(raw.url ?? '/', 'http://stand-in');
    // Read at once, as a real server takes in what it was sent: a request held by delayMs is still
    // carried out after its client gave up (the slow partner that did the work, answer lost).
    const body = readJson(raw);
    body.catch(() => undefined);
    const req: StandInRequest = {
      method: raw.method ?? 'GET',
      pathname,
      query: searchParams,
      header: (name) => [raw.headers[name.toLowerCase()]].flat()[0],
      origin: `http://${raw.headers.host ?? 'localhost'}`,
      json: () => body,
    };
    if (req.method === 'GET' && pathname === '/health') {
      await db.query('SELECT 1');
      return { status: 200, body: { status: 'ok', service: name } };
    }
    if (pathname === '/control/faults') {
      if (req.method === 'POST') {
        const { failForMs, ...faults } = parse(faultsRequest, await req.json());
        Object.assign(standIn.faults, faults);
        if (failForMs !== undefined) standIn.faults.failUntil = failForMs > 0 ? Date.now() + failForMs : 0;
      } else if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
      const { failUntil, ...faults } = standIn.faults;
      const failForMs = Math.max(0, failUntil - Date.now());
      return { status: 200, body: { ...faults, failForMs, requests: standIn.requests, delayed: standIn.delayed } };
    }
    const control = routes.control?.(req);
    if (control) return control();
    const business = routes.business(req);
    if (!business) throw new HttpError(404, `no route ${req.method} ${pathname}`);
    standIn.requests++;
    if (standIn.faults.delayMs > 0) {
      standIn.delayed++;
      await new Promise((r) => setTimeout(r, standIn.faults.delayMs));
    }
    const failing = standIn.faults.failNext > 0 || Date.now() < standIn.faults.failUntil;
    if (standIn.faults.failNext > 0) standIn.faults.failNext--;
    if (failing && standIn.faults.failBody !== undefined) return { status: standIn.faults.failStatus, body: standIn.faults.failBody };
    if (failing) throw new HttpError(standIn.faults.failStatus, `${name} failing on purpose (fault injection)`);
    return business();
  }

  return standIn;
}

/** Creates a stand-in's tables; several instances (the stack's, the tests') may start at once. */
export async function ensureTables(db: Pool, lockKey: number, ddl: string): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey]);
    await client.query(ddl);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => undefined);
    client.release();
  }
}
