import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables, databaseRoles, loadConfig } from '../../src/config';
import { pipelines } from '../../src/pipelines';
import { stackServices, urlOf, type StackService } from '../../src/stack-services';
import { pipelinePoolSize } from '../../src/workers/pipeline-workers';
import { codecServerPoolSize } from '../../src/codec-server/server';

/**
 * No Docker engine runs here, so docker-compose.yml is checked against the code it must agree
 * with: the stack's service list, the config module's variables and defaults (the pipeline list's
 * topics and search attributes are checked in pipelines.test.ts).
 */
const root = path.resolve(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
// Environments as compose passes them with none of the host's `${VAR:-default}` variables set.
const services: Record<string, any> = Object.fromEntries(
  Object.entries(compose.services as Record<string, any>).map(([name, service]) => [
    name,
    service.environment
      ? { ...service, environment: Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1')])) }
      : service,
  ]),
);
// The addresses alone: a state directory with no password files, so none is filled into a URL.
const defaults = loadConfig({ STACK_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'compose-defaults-')) });
const topicScript = 'src/create-topics.ts';
const listed: readonly StackService[] = stackServices;
/** What clients reach by an address variable, and the node processes among them (stand-ins, codec server). */
const reached = listed.filter((s) => s.urlVariable);
const nodeServers = [...new Set(listed.filter((s) => s.entry).map((s) => s.server))];
const appServices = ['migrate', 'workers', 'bridges', 'kafka-topics', ...nodeServers];
const port = (hostPort: string) => Number(hostPort.split(':').at(-1));
const publishedPorts = (service: string) =>
  ((services[service].ports ?? []) as string[]).map((p) => Number(p.split(':').at(-2)));

/** The mount point of the named volume that holds `file` in `service`, if one does. */
function namedVolumeHolding(service: string, file: string): string | undefined {
  return ((services[service].volumes ?? []) as string[])
    .map((v) => v.split(':'))
    .filter(([source]) => source! in (compose.volumes ?? {}))
    .map(([, target]) => target!)
    .find((target) => file === target || file.startsWith(`${target}/`));
}

describe('docker-compose.yml', () => {
  it('runs the whole system: Temporal, Kafka, PostgreSQL, Redis, admin service, partner stand-ins, payment provider, migrations, workers and bridges', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['temporal', 'kafka', 'postgres', 'redis', 'admin-service', 'partner-services', 'payment-provider', 'migrate', 'workers', 'bridges']),
    );
  });

  it('gives the application services only variables the config module knows', () => {
    const known = new Set([...configVariables, ...pipelines.flatMap((p) => Object.keys(p.settings.shape))]);
    for (const name of appServices) {
      const unknown = Object.keys(services[name].environment).filter((v) => !known.has(v));
      expect({ service: name, unknown }).toEqual({ service: name, unknown: [] });
      // And the values are valid config.
      expect(() => loadConfig(services[name].environment)).not.toThrow();
      for (const p of pipelines) expect(() => p.settings.read(services[name].environment)).not.toThrow();
    }
  });

  it('builds the application image once and runs every application service from it', () => {
    const builders = Object.keys(services).filter((name) => services[name].build);
    expect(builders).toHaveLength(1);
    const image = services[builders[0]!].image;
    expect(image).toBeTruthy();
    for (const name of appServices) {
      const { build, pull_policy } = services[name];
      // Compose would look for the image in a registry before the builder has made it.
      expect({ name, image: services[name].image, pull_policy }).toEqual({
        name,
        image,
        pull_policy: build ? 'build' : 'never',
      });
    }
  });

  it('runs entry points that exist and that the image contains, the stand-ins mounted from the repository instead', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const copied = dockerfile
      .split('\n')
      .filter((line) => /^COPY\s/.test(line) && !line.includes('--from'))
      .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
    const workdir = /^WORKDIR (\S+)$/m.exec(dockerfile)![1]!;
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
    const within = (dirs: string[], file: string) => dirs.some((d) => file === d || file.startsWith(`${d}/`));
    const inImage = (file: string) => within(copied, file) && !within(ignored, file);
    /** Read-only bind mounts of repository folders into the working directory, as repository paths. */
    const mounted = (name: string) =>
      ((services[name].volumes ?? []) as string[])
        .map((v) => v.split(':'))
        .filter(([source, target, mode]) => source!.startsWith('./') && target === `${workdir}/${source!.slice(2)}` && mode === 'ro')
        .map(([source]) => source!.slice(2));
    for (const name of appServices) {
      const entry = (services[name].command as string[]).find((arg) => arg.endsWith('.ts'));
      const from = entry === undefined ? 'nowhere' : within(mounted(name), entry) ? 'mount' : inImage(entry) ? 'image' : 'nowhere';
      expect({ name, entry, from }).toEqual({ name, entry, from: within(['stand-ins'], entry!) ? 'mount' : 'image' });
      expect({ name, entry, exists: existsSync(path.join(root, entry!)) }).toEqual({ name, entry, exists: true });
    }
    // Other companies' systems are not product: nothing of stand-ins/ is in the image.
    expect(inImage('stand-ins/http.ts')).toBe(false);
  });

  it('gives the workers prebuilt workflow bundles, built in the image from its own sources', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const dir = /^RUN npx tsx scripts\/build-workflows\.ts (\S+)$/m.exec(dockerfile)?.[1];
    expect(dir).toBeTruthy();
    expect(dockerfile).toMatch(new RegExp(`^ENV .*WORKFLOW_BUNDLE_DIR=${dir}\\b`, 'm'));
  });

  it("runs every server in the stack's service list, the node ones from the entry the list names", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining([...new Set(listed.map((s) => s.server))]));
    for (const s of listed.filter((s) => s.entry)) {
      expect({ server: s.server, command: services[s.server].command }).toEqual({ server: s.server, command: expect.arrayContaining([s.entry]) });
    }
  });

  it('publishes on loopback, from the service that serves it, every address clients reach at its default port in the list and config', () => {
    for (const name of Object.keys(services)) {
      const served = reached.filter((s) => s.server === name).map((s) => s.defaultPort);
      expect({ service: name, published: publishedPorts(name) }).toEqual({ service: name, published: served });
    }
    for (const s of reached) {
      const configured = defaults[s.urlVariable as keyof typeof defaults];
      expect({ variable: s.urlVariable, value: [configured].flat().join(',') }).toEqual({
        variable: s.urlVariable,
        value: urlOf(s, '127.0.0.1', s.defaultPort),
      });
    }
    for (const service of Object.values(services)) {
      for (const p of (service.ports ?? []) as string[]) expect(p).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('has each node service listen on the port its clients\' URL names, inside the network as on the host', () => {
    for (const s of listed.filter((s) => s.entry && s.urlVariable)) {
      const config: Record<string, unknown> = loadConfig(services[s.server].environment);
      expect({ name: s.name, port: config[s.portVariable] }).toEqual({ name: s.name, port: Number(new URL(String(config[s.urlVariable!])).port) });
    }
  });

  it('advertises Kafka to the host at the config default and to the containers at the address they use', () => {
    const listeners = (value: string) => new Map(value.split(',').map((l) => l.split('://') as [string, string]));
    const env = services.kafka.environment;
    const listening = listeners(env.KAFKA_LISTENERS);
    const advertised = listeners(env.KAFKA_ADVERTISED_LISTENERS);
    const forHost = [...advertised].find(([, address]) => address === defaults.KAFKA_BROKERS[0])?.[0];
    expect(forHost).toBeDefined();
    expect((services.kafka.ports as string[]).map(port)).toContain(port(listening.get(forHost!)!));
    for (const name of appServices) {
      for (const broker of loadConfig(services[name].environment).KAFKA_BROKERS) {
        expect([...advertised].filter(([listener]) => listener !== forHost).map(([, address]) => address)).toContain(broker);
      }
    }
    expect(listening.has(env.KAFKA_INTER_BROKER_LISTENER_NAME)).toBe(true);
  });

  it('keeps the Temporal database on a named volume that the image user can write', () => {
    const db = (services.temporal.command as string[]).find((a) => a.startsWith('--db-filename='))!.split('=')[1]!;
    // temporalio/temporal runs as uid 1000, which owns only its home; a new named volume takes
    // the owner of the image directory it is mounted on, so one at /data stays root's.
    expect(namedVolumeHolding('temporal', db)).toBe('/home/temporal');
  });

  it('keeps Kafka, PostgreSQL and Redis data on named volumes, as the local stack keeps it across restarts', () => {
    expect(namedVolumeHolding('kafka', services.kafka.environment.KAFKA_LOG_DIRS)).toBeDefined();
    expect(namedVolumeHolding('postgres', '/var/lib/postgresql/data')).toBeDefined();
    // The redis image's working directory, where --appendonly writes.
    expect(namedVolumeHolding('redis', '/data')).toBeDefined();
  });

  it('creates the topics with the script that reads the pipeline list, from the application image', () => {
    expect(services['kafka-topics'].image).toBe(services.migrate.image);
    expect(services['kafka-topics'].command).toContain(topicScript);
  });

  it('points every application service at the other containers, never at a loopback default', () => {
    // A variable left out falls back to the config default, 127.0.0.1, which inside a container is
    // the container itself. The Web UI's URL is no such address: it is a link for the browser on the host.
    const hostOf = (v: string) => (v.includes('://') ? new URL(v).hostname : v.split(':')[0]!);
    const addresses = reached.filter((s) => s.urlVariable !== 'TEMPORAL_UI_URL');
    for (const name of appServices) {
      const env = services[name].environment as Record<string, string>;
      for (const { urlVariable: variable, server } of addresses) {
        const value = env[variable!];
        expect({ service: name, variable, set: value !== undefined }).toEqual({ service: name, variable, set: true });
        expect({ service: name, variable, host: hostOf(value!) }).toEqual({ service: name, variable, host: server });
      }
    }
  });

  it('connects every application service as the application role, and only migrate as the owner, with the roles postgres-roles creates', () => {
    for (const name of appServices) {
      const url = new URL(services[name].environment.DATABASE_URL);
      expect({ service: name, user: url.username, password: url.password }).toEqual({ service: name, user: databaseRoles.app, password: '' });
      const owner = services[name].environment.MIGRATION_DATABASE_URL;
      expect({ service: name, ownerUrl: owner !== undefined }).toEqual({ service: name, ownerUrl: name === 'migrate' });
    }
    const migrationUrl = new URL(services.migrate.environment.MIGRATION_DATABASE_URL);
    expect([migrationUrl.username, migrationUrl.password]).toEqual([databaseRoles.owner, '']);
    const roles = services['postgres-roles'];
    const superuserUrl = new URL(`postgres://${roles.command[roles.command.indexOf('-U') + 1]}@${roles.command[roles.command.indexOf('-h') + 1]}/x`);
    expect(services.postgres.environment).toMatchObject({ POSTGRES_DB: migrationUrl.pathname.slice(1), POSTGRES_USER: superuserUrl.username });
    expect(roles.environment.PGPASSWORD).toBe(services.postgres.environment.POSTGRES_PASSWORD);
    expect(roles.command.slice(-2)).toEqual(['-f', '/roles.sql']);
    expect(roles.volumes).toEqual(['./scripts/postgres/roles.sql:/roles.sql:ro']);
    expect(existsSync(path.join(root, 'scripts/postgres/roles.sql'))).toBe(true);
    expect(services.migrate.depends_on['postgres-roles']).toEqual({ condition: 'service_completed_successfully' });
  });

  /**
   * Each secret goes only where it is used: the key ring to what encrypts or decodes payloads (the
   * workers, the bridges, the codec server, and the payment API, which starts workflows), the owner's password to the migrations and the roles job, the
   * application's to what connects to PostgreSQL. A service added later gets none until it is listed here.
   */
  const secretsOf: Record<string, string[]> = {
    'postgres-roles': ['postgres-app-password', 'postgres-owner-password'],
    migrate: ['postgres-owner-password'],
    'kafka-topics': [],
    'admin-service': ['postgres-app-password'],
    'partner-services': ['postgres-app-password'],
    'payment-provider': ['postgres-app-password'],
    'payment-api': ['payload-key-ring', 'postgres-app-password'],
    'codec-server': ['payload-key-ring', 'postgres-app-password'],
    workers: ['payload-key-ring', 'postgres-app-password'],
    bridges: ['payload-key-ring', 'postgres-app-password'],
  };
  const secretVariables: Record<string, string> = {
    'payload-key-ring': 'PAYLOAD_KEY_RING_FILE',
    'postgres-app-password': 'DATABASE_PASSWORD_FILE',
    'postgres-owner-password': 'MIGRATION_DATABASE_PASSWORD_FILE',
  };

  it('gives each service only the secrets it uses: the key ring to what encrypts or decodes, the owner password to the migrations', () => {
    for (const name of Object.keys(services)) {
      const given = [...((services[name].secrets ?? []) as string[])].sort();
      expect({ service: name, secrets: given }).toEqual({ service: name, secrets: secretsOf[name] ?? [] });
    }
    const holders = (secret: string) => Object.keys(services).filter((name) => (services[name].secrets ?? []).includes(secret)).sort();
    expect(holders('payload-key-ring')).toEqual(['bridges', 'codec-server', 'payment-api', 'workers']);
    expect(holders('postgres-owner-password')).toEqual(['migrate', 'postgres-roles']);
  });

  it('points each secret variable at the mounted secret, and keeps the secret files outside the repository', () => {
    const gitignored = readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n');
    for (const name of appServices) {
      const env = services[name].environment as Record<string, string>;
      for (const secret of services[name].secrets as string[]) {
        // Unset, the path would default to the local stack's state directory, which no container has.
        expect({ service: name, secret, value: env[secretVariables[secret]!] }).toEqual({ service: name, secret, value: `/run/secrets/${secret}` });
      }
    }
    expect(Object.keys(compose.secrets).sort()).toEqual(Object.keys(secretVariables).sort());
    for (const secret of Object.values(compose.secrets as Record<string, { file: string }>)) {
      const file = /^\$\{[A-Z_]+:-\.\/(.+)\}$/.exec(secret.file)?.[1] ?? secret.file;
      expect(gitignored.some((ignored) => ignored && file.startsWith(ignored))).toBe(true);
    }
  });

  it('runs the application image, and every container given a secret, as a non-root user', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const imageUser = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    const isRoot = (user: string | undefined) => user === undefined || /^(root|0)(:|$)/.test(String(user));
    expect(isRoot(imageUser)).toBe(false);
    for (const name of appServices) {
      const user = services[name].user ?? imageUser;
      expect({ service: name, root: isRoot(user) }).toEqual({ service: name, root: false });
    }
    for (const name of Object.keys(services).filter((n) => services[n].secrets?.length)) {
      const user = services[name].user ?? (services[name].image === services.migrate.image ? imageUser : undefined);
      expect({ service: name, root: isRoot(user) }).toEqual({ service: name, root: false });
    }
  });

  it('runs every process that reads payloads (workers, bridges, payment API) in strict mode: plain payloads are refused', () => {
    for (const name of ['workers', 'bridges', 'payment-api']) {
      expect({ service: name, strict: loadConfig(services[name].environment).PAYLOAD_ENCRYPTION_STRICT }).toEqual({ service: name, strict: true });
    }
  });

  it('checks the health of workers and bridges at the /readyz of the OPS_PORT they serve it on', () => {
    for (const name of ['workers', 'bridges']) {
      const port = loadConfig(services[name].environment).OPS_PORT;
      expect({ service: name, port }).toEqual({ service: name, port: expect.any(Number) });
      expect({ service: name, test: services[name].healthcheck?.test.join(' ') }).toEqual({
        service: name,
        test: expect.stringContaining(`http://127.0.0.1:${port}/readyz`),
      });
    }
  });

  it('exports traces from the processes that make spans only when the host sets an OTLP endpoint, each under its own service name', () => {
    for (const name of ['workers', 'bridges', 'payment-api']) {
      const config = loadConfig(services[name].environment);
      expect({ name, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }).toEqual({ name, endpoint: undefined });
      const traced = loadConfig({ ...services[name].environment, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' });
      expect({ name, endpoint: traced.OTEL_EXPORTER_OTLP_ENDPOINT, service: traced.OTEL_SERVICE_NAME ?? traced.SERVICE_NAME }).toEqual({
        name,
        endpoint: 'http://jaeger:4318',
        service: name,
      });
    }
    const raw = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    expect(raw).toContain('OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT:-}');
  });

  it("points the Web UI at the codec server's published port, where the browser on the host reaches it", () => {
    const endpoint = (services.temporal.command as string[]).find((a) => a.startsWith('--ui-codec-endpoint='))!.split('=')[1]!;
    expect(new URL(endpoint).hostname).toBe('127.0.0.1');
    expect(publishedPorts('codec-server')).toContain(Number(new URL(endpoint).port));
  });

  it('restarts every long-running service, stops workers after their grace time, and runs node under an init process', () => {
    const oneShot = ['postgres-roles', 'migrate', 'kafka-topics'];
    for (const name of Object.keys(services).filter((n) => !oneShot.includes(n))) {
      expect({ service: name, restart: services[name].restart }).toEqual({ service: name, restart: 'unless-stopped' });
    }
    for (const name of appServices) expect({ service: name, init: services[name].init }).toEqual({ service: name, init: true });
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)![1]);
    expect(seconds(services.workers.stop_grace_period) * 1000).toBeGreaterThan(defaults.WORKER_SHUTDOWN_GRACE_MS + 5_000);
    expect(seconds(services.bridges.stop_grace_period)).toBeGreaterThanOrEqual(10);
  });

  // Each worker process has a pool per pipeline (src/workers/main.ts); the bridges and the
  // stand-ins one of createPool's default 10. A second worker replica must fit.
  it('starts the codec server after the migrations: its operators, sessions and access audit are tables', () => {
    expect(services['codec-server'].depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
  });

  it("gives PostgreSQL connections for two worker replicas, the bridges, the stand-ins and the codec server", () => {
    const maxConnections = Number(/max_connections=(\d+)/.exec(services.postgres.command.join(' '))![1]);
    const superuserReserved = 3;
    const perWorkerProcess = pipelines.length * pipelinePoolSize(defaults);
    const others = 10 * ['bridges', 'admin-service', 'partner-services', 'payment-provider', 'payment-api'].length + codecServerPoolSize;
    expect(2 * perWorkerProcess + others).toBeLessThanOrEqual(maxConnections - superuserReserved);
  });
});
