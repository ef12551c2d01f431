import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { logger } from './logger';

/**
 * A process's health, for its supervisor (compose's health checks, run inside the container):
 *   GET /livez  -> 200 while the process answers at all (restart it when this fails)
 *   GET /readyz -> 200 when every check passes, 503 naming each check that fails (send it no work,
 *                  and do not count it as up, until it passes)
 *   GET /metrics -> the process's Prometheus series, when it has any (docs/production/metrics.md)
 * On OPS_PORT, one per process; a process without OPS_PORT serves none. On OPS_HOST, loopback by
 * default as everything the local stack starts: a scraper or a supervisor in another container
 * (compose's Prometheus, Kubernetes' probes) needs 0.0.0.0.
 */
export interface ReadinessCheck {
  name: string;
  /** Resolves with why the process is not ready, or undefined when it is. */
  check(): Promise<string | undefined> | string | undefined;
}

const checkTimeoutMs = 2_000;

export async function startOpsServer(port: number, checks: ReadinessCheck[], host = '127.0.0.1', metrics?: Registry): Promise<Server> {
  const server = createServer((request, response) => {
    const reply = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body));
    };
    if (request.method !== 'GET') return reply(405, { error: 'GET only' });
    if (request.url === '/livez') return reply(200, { live: true });
    if (request.url === '/metrics' && metrics) {
      void metrics.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
          response.end(text);
        },
        (err: Error) => reply(500, { error: err.message }),
      );
      return;
    }
    if (request.url === '/readyz') {
      void readiness(checks).then((failing) => reply(Object.keys(failing).length ? 503 : 200, { ready: !Object.keys(failing).length, failing }));
      return;
    }
    reply(404, { error: metrics ? 'GET /livez, /readyz or /metrics' : 'GET /livez or /readyz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  logger.info({ host, port }, metrics ? 'Health and metrics endpoints listening (/livez, /readyz, /metrics)' : 'Health endpoints listening (/livez, /readyz)');
  return server;
}

/** Each failing check by name, with its reason; a check that takes too long fails. */
async function readiness(checks: ReadinessCheck[]): Promise<Record<string, string>> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`no answer within ${checkTimeoutMs} ms`), checkTimeoutMs);
      });
      try {
        return [name, await Promise.race([Promise.resolve(check()), timeout])] as const;
      } catch (err) {
        return [name, (err as Error).message] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(results.filter((r): r is readonly [string, string] => r[1] !== undefined));
}
