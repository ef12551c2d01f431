/**
 * The stack's ports and addresses from src/stack-services.ts, as `export VAR='value'` lines for bash
 * to eval (scripts/stack/lib.sh, scripts/isolated-stack.sh).
 *
 *   services.ts env            each port from its variable, or its default
 *   services.ts isolated BASE  the first block of free ports from BASE; the client addresses too
 *
 * Both also print what the scripts loop over: STACK_PORT_VARIABLES, STACK_URLS (every client
 * address on this stack's ports, as VAR=value words for the node processes' environment) and
 * STACK_NODE_SERVICES (one `server|entry|healthPath|name:port,...` word per node process).
 */
import { createServer } from 'node:net';
import { blockLayout, STACK_HOST, stackServices, urlOf, type StackService } from '../../src/stack-services';

type Ports = Map<StackService, string>;

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
const exportLine = (variable: string, value: string) => `export ${variable}=${quote(value)}`;

function portsFromEnvironment(): Ports {
  return new Map(stackServices.map((s) => [s, process.env[s.portVariable] || String(s.defaultPort)]));
}

/** True when nothing listens on the port, found by listening on it for a moment. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: STACK_HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function freeBlock(base: number): Promise<Ports> {
  const { offsets, size } = blockLayout();
  for (let start = base; start < base + 20 * size; start += size) {
    let free = true;
    for (let port = start; port < start + size && free; port++) free = await isFree(port);
    if (free) return new Map([...offsets].map(([s, offset]) => [s, String(start + offset)]));
  }
  throw new Error(`no free block of ${size} ports from ${base}`);
}

function urls(ports: Ports): Array<[string, string]> {
  return [...ports].flatMap(([s, port]) => (s.urlVariable ? [[s.urlVariable, urlOf(s, STACK_HOST, Number(port))]] : []));
}

function nodeServices(ports: Ports): string[] {
  const servers = new Map<string, { entry: string; healthPath: string; endpoints: string[] }>();
  for (const [s, port] of ports) {
    if (!s.entry) continue;
    const server = servers.get(s.server) ?? { entry: s.entry, healthPath: s.healthPath ?? '/health', endpoints: [] };
    server.endpoints.push(`${s.name}:${port}`);
    servers.set(s.server, server);
  }
  return [...servers].map(([name, { entry, healthPath, endpoints }]) => `${name}|${entry}|${healthPath}|${endpoints.join(',')}`);
}

function print(ports: Ports, exportUrls: boolean): void {
  const lines = [...ports].map(([s, port]) => exportLine(s.portVariable, port));
  if (exportUrls) lines.push(...urls(ports).map(([variable, url]) => exportLine(variable, url)));
  lines.push(
    exportLine('STACK_PORT_VARIABLES', stackServices.map((s) => s.portVariable).join(' ')),
    exportLine('STACK_URLS', urls(ports).map(([variable, url]) => `${variable}=${url}`).join(' ')),
    exportLine('STACK_NODE_SERVICES', nodeServices(ports).join(' ')),
  );
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  const [mode, base] = process.argv.slice(2);
  if (mode === 'env') return print(portsFromEnvironment(), false);
  if (mode === 'isolated' && base && /^\d+$/.test(base)) return print(await freeBlock(Number(base)), true);
  throw new Error('usage: services.ts env | isolated BASE');
}

main().catch((err: Error) => {
  console.error(`scripts/stack/services.ts: ${err.message}`);
  process.exit(1);
});
