import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables, databaseRoles, loadConfig } from '../../src/config';
import { endpoints, refusePlaintext } from '../../src/connection-options';
import { pipelines } from '../../src/pipelines';
import { stackServices, urlOf, type StackService } from '../../src/stack-services';
import { pipelinePoolSize } from '../../src/workers/pipeline-workers';
import { codecServerPoolSize } from '../../src/codec-server/server';
import { BridgeMetrics } from '../../src/bridges/metrics';
import { runsNeedingAttentionGauges } from '../../src/workers/runs-needing-attention';
import { Registry } from 'prom-client';

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
/** Other companies' systems: not product, run from source in the Dockerfile's build stage. */
const standIns = [...new Set(listed.filter((s) => s.entry?.startsWith('stand-ins/')).map((s) => s.server))];
const productServices = appServices.filter((name) => !standIns.includes(name));
/** Where the image runs a module of src/ from: its compiled file (tsconfig.build.json: rootDir src, outDir dist). */
const compiled = (entry: string) => entry.replace(/^src\/(.+)\.ts$/, 'dist/$1.js');
const port = (hostPort: string) => Number(hostPort.split(':').at(-1));
/** What compose publishes besides the stack's services: Prometheus' and Grafana's UIs. */
const observabilityPorts: Record<string, number[]> = { prometheus: [9090], grafana: [3000] };
const publishedPorts = (service: string) =>
  ((services[service].ports ?? []) as string[]).map((p) => Number(p.split(':').at(-2)));

/** The Dockerfile's stages in order: each one's name, what it is FROM, and its instructions (continuation lines joined). */
interface Stage {
  name: string;
  from: string;
  lines: string[];
}
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const stages: Stage[] = [];
for (const line of dockerfile.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.startsWith('#'))) {
  const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
  if (from) stages.push({ from: from[1]!, name: from[2] ?? String(stages.length), lines: [] });
  else stages.at(-1)!.lines.push(line.trim());
}
const stageNamed = (name: string) => stages.find((s) => s.name === name);
/** A stage's instructions, its ancestors' first: what an image built from it carries. */
const inherited = (stage: Stage): string[] => [...(stageNamed(stage.from) ? inherited(stageNamed(stage.from)!) : []), ...stage.lines];
const lastOf = (stage: Stage, instruction: string) =>
  inherited(stage).filter((l) => l.startsWith(`${instruction} `)).at(-1)?.slice(instruction.length + 1);
const runtime = stages.at(-1)!;
/** The stage a compose service's image is built from: the last unless its builder names a target. */
function stageOf(service: string): Stage {
  const image = services[service].image;
  const builder = Object.values(services).find((s: any) => s.build && s.image === image);
  return stageNamed(builder?.build?.target ?? runtime.name)!;
}

/** The mount point of the named volume that holds `file` in `service`, if one does. */
function namedVolumeHolding(service: string, file: string): string | undefined {
  return ((services[service].volumes ?? []) as string[])
    .map((v) => v.split(':'))
    .filter(([source]) => source! in (compose.volumes ?? {}))
    .map(([, target]) => target!)
    .find((target) => file === target || file.startsWith(`${target}/`));
}

/** True when `run` returns, false when it throws. */
function attempt(run: () => void): boolean {
  try {
    run();
    return true;
  } catch {
    return false;
  }
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

  it("builds each image once: the application image (the Dockerfile's last stage) for the product's services, the build stage for the stand-ins", () => {
    const builders = Object.keys(services).filter((name) => services[name].build);
    expect(builders).toHaveLength(2);
    const imageOf = (stage: Stage) => {
      const builder = builders.find((name) => (services[name].build.target ?? runtime.name) === stage.name);
      return builder && services[builder].image;
    };
    expect(imageOf(runtime)).toBeTruthy();
    expect(imageOf(stageNamed('build')!)).toBeTruthy();
    for (const name of appServices) {
      const { build, pull_policy } = services[name];
      const image = imageOf(standIns.includes(name) ? stageNamed('build')! : runtime);
      // Compose would look for the image in a registry before the builder has made it.
      expect({ name, image: services[name].image, pull_policy }).toEqual({
        name,
        image,
        pull_policy: build ? 'build' : 'never',
      });
    }
  });

  it('runs the compiled entry points of src/ that the image contains, the stand-ins from source mounted from the repository instead', () => {
    const copiedIn = (stage: Stage) =>
      stage.lines.filter((line) => /^COPY\s/.test(line) && !line.includes('--from')).flatMap((line) => line.split(/\s+/).slice(1, -1));
    const workdir = lastOf(runtime, 'WORKDIR')!;
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
    const within = (dirs: string[], file: string) => dirs.some((d) => file === d || file.startsWith(`${d}/`));
    const build = stageNamed('build')!;
    // The runtime stage has the build stage's dist/, compiled there from the sources it copied.
    expect(runtime.lines).toContain(`COPY --from=build ${workdir}/dist ./dist`);
    expect(build.lines).toContain('RUN npx tsc -p tsconfig.build.json');
    const built = (file: string) => within(copiedIn(build), file) && !within(ignored, file);
    const inImage = (file: string) => (file.startsWith('dist/') ? built(file.replace(/^dist\/(.+)\.js$/, 'src/$1.ts')) : within(copiedIn(runtime), file) && !within(ignored, file));
    /** Read-only bind mounts of repository folders into the working directory, as repository paths. */
    const mounted = (name: string) =>
      ((services[name].volumes ?? []) as string[])
        .map((v) => v.split(':'))
        .filter(([source, target, mode]) => source!.startsWith('./') && target === `${workdir}/${source!.slice(2)}` && mode === 'ro')
        .map(([source]) => source!.slice(2));
    for (const name of productServices) {
      const command = services[name].command as string[];
      const entry = command[1]!;
      expect({ name, command: command.slice(0, 2) }).toEqual({ name, command: ['node', expect.stringMatching(/^dist\/.+\.js$/)] });
      expect({ name, entry, inImage: inImage(entry) }).toEqual({ name, entry, inImage: true });
      const source = entry.replace(/^dist\/(.+)\.js$/, 'src/$1.ts');
      expect({ name, source, exists: existsSync(path.join(root, source)) }).toEqual({ name, source, exists: true });
    }
    for (const name of standIns) {
      const entry = (services[name].command as string[]).find((arg) => arg.endsWith('.ts'))!;
      expect({ name, entry, mounted: within(mounted(name), entry) }).toEqual({ name, entry, mounted: true });
      expect({ name, entry, exists: existsSync(path.join(root, entry)) }).toEqual({ name, entry, exists: true });
    }
    // Other companies' systems are not product: nothing of stand-ins/ is in the image.
    expect(within(copiedIn(runtime), 'stand-ins/http.ts') || built('stand-ins/http.ts')).toBe(false);
  });

  it('gives the workers prebuilt workflow bundles, built in the build stage from its own sources and copied into the image', () => {
    const dir = stageNamed('build')!.lines.map((l) => /^RUN npx tsx scripts\/build-workflows\.ts (\S+)$/.exec(l)?.[1]).find(Boolean);
    expect(dir).toBeTruthy();
    expect(runtime.lines).toContain(`COPY --from=build ${dir} ./${path.relative(lastOf(runtime, 'WORKDIR')!, dir!)}`);
    expect(lastOf(runtime, 'ENV')).toBeDefined();
    expect(runtime.lines.filter((l) => l.startsWith('ENV ')).join('\n')).toMatch(new RegExp(`WORKFLOW_BUNDLE_DIR=${dir}\\b`));
  });

  it('is built in stages: dev dependencies only in the build stage, the image with production dependencies, compiled code and no TypeScript', () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['build', runtime.name]));
    expect(stageNamed('build')!.lines).toContain('RUN npm ci --no-audit --no-fund');
    // The runtime stage installs its own dependencies, without dev ones (tsx, typescript, vitest), and copies no sources.
    expect(runtime.from).not.toBe('build');
    const installs = inherited(runtime).filter((l) => /\bnpm (ci|install)\b/.test(l));
    expect(installs).toEqual([expect.stringContaining('npm ci --omit=dev')]);
    expect(inherited(runtime).filter((l) => /\btsx\b|\btsc\b|COPY src\b|COPY (.* )?tsconfig/.test(l))).toEqual([]);
    expect(JSON.parse(lastOf(runtime, 'CMD')!)).toEqual(['node', 'dist/workers/main.js']);
  });

  it("patches the dependencies as npm ci does here: each stage that installs them has the project's patches/ first", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.postinstall).toMatch(/^patch-package\b/);
    expect(Object.keys(pkg.dependencies)).toContain('patch-package');
    for (const stage of stages.filter((s) => s.lines.some((l) => /\bnpm ci\b/.test(l)))) {
      const install = stage.lines.findIndex((l) => /\bnpm ci\b/.test(l));
      const patches = stage.lines.findIndex((l) => /^COPY patches \S+$/.test(l));
      expect({ stage: stage.name, patchesBeforeInstall: patches >= 0 && patches < install }).toEqual({ stage: stage.name, patchesBeforeInstall: true });
    }
  });

  it('needs only production dependencies at run time: every package src/ imports is a dependency, not a dev one', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const sources = (dir: string): string[] =>
      readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const imported = new Set(
      sources('src').flatMap((file) =>
        [...readFileSync(path.join(root, file), 'utf8').matchAll(/^import (?!type )[^;]*?from '([^.'][^']*)'/gm)]
          .map((m) => m[1]!)
          .filter((name) => !name.startsWith('node:'))
          .map((name) => name.split('/').slice(0, name.startsWith('@') ? 2 : 1).join('/')),
      ),
    );
    expect(imported.size).toBeGreaterThan(5);
    expect([...imported].filter((name) => !(name in pkg.dependencies)).sort()).toEqual([]);
  });

  it('pins every base image and every compose image by version, the base and Kafka by digest too', () => {
    const versioned = /^[\w./-]+:v?\d+(\.\d+)+[\w.-]*(@sha256:[0-9a-f]{64})?$/;
    const ours = new Set(Object.values(services).filter((s: any) => s.build).map((s: any) => s.image));
    for (const stage of stages.filter((s) => !stageNamed(s.from))) {
      expect({ from: stage.from }).toEqual({ from: expect.stringMatching(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}$/) });
    }
    for (const [name, service] of Object.entries(services)) {
      if (ours.has(service.image)) continue;
      expect({ service: name, image: service.image }).toEqual({ service: name, image: expect.stringMatching(versioned) });
    }
    expect(services.kafka.image).toMatch(/@sha256:[0-9a-f]{64}$/);
  });

  it("runs every server in the stack's service list, the node ones from the entry the list names (compiled, for the product's)", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining([...new Set(listed.map((s) => s.server))]));
    for (const s of listed.filter((s) => s.entry)) {
      expect({ server: s.server, command: services[s.server].command }).toEqual({ server: s.server, command: expect.arrayContaining([compiled(s.entry!)]) });
    }
  });

  it('publishes on loopback, from the service that serves it, every address clients reach at its default port in the list and config', () => {
    for (const name of Object.keys(services)) {
      const served = [...reached.filter((s) => s.server === name).map((s) => s.defaultPort), ...(observabilityPorts[name] ?? [])];
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
    expect(services['kafka-topics'].command).toContain(compiled(topicScript));
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

  it("lets every application service reach the other containers in plaintext, as ALLOW_PLAINTEXT_TO names them, and nothing else", () => {
    for (const name of appServices) {
      const config = loadConfig(services[name].environment);
      for (const endpoint of endpoints(config)) expect(() => refusePlaintext(config, endpoint)).not.toThrow();
      // The allowance is what lets them: without it each is refused.
      const strict = loadConfig({ ...services[name].environment, ALLOW_PLAINTEXT_TO: '' });
      const refused = endpoints(strict).filter((e) => !attempt(() => refusePlaintext(strict, e)));
      expect(refused.map((e) => e.name.split(' ')[0])).toEqual(['Temporal', 'Kafka', 'PostgreSQL', 'Redis']);
    }
    const allowed = loadConfig(services.workers.environment).ALLOW_PLAINTEXT_TO;
    expect(allowed.sort()).toEqual(['kafka', 'postgres', 'redis', 'temporal']);
  });

  it('shows a production shape of the connections that is valid config and reaches everything over TLS, with secrets as files', () => {
    const production = compose['x-production-connections'] as Record<string, string>;
    const known = new Set(configVariables);
    expect(Object.keys(production).filter((v) => !known.has(v))).toEqual([]);
    const env = { ...services.workers.environment, ALLOW_PLAINTEXT_TO: '', ...production };
    const config = loadConfig(env);
    expect(endpoints(config).filter((e) => !e.encrypted).map((e) => e.name)).toEqual([]);
    for (const endpoint of endpoints(config)) expect(() => refusePlaintext(config, endpoint)).not.toThrow();
    // What it replaces: each address the local services use.
    for (const variable of ['TEMPORAL_ADDRESS', 'KAFKA_BROKERS', 'DATABASE_URL', 'REDIS_URL']) expect(production[variable]).toBeDefined();
    for (const [variable, value] of Object.entries(production).filter(([v]) => v.endsWith('_FILE'))) {
      expect({ variable, value }).toEqual({ variable, value: expect.stringMatching(/^\/run\/secrets\//) });
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

  it('runs the application image, the stand-ins and every container given a secret as a non-root user', () => {
    const isRoot = (user: string | undefined) => user === undefined || /^(root|0)(:|$)/.test(String(user));
    expect(isRoot(lastOf(runtime, 'USER'))).toBe(false);
    for (const name of appServices) {
      const user = services[name].user ?? lastOf(stageOf(name), 'USER');
      expect({ service: name, root: isRoot(user) }).toEqual({ service: name, root: false });
    }
    for (const name of Object.keys(services).filter((n) => services[n].secrets?.length)) {
      const user = services[name].user ?? (appServices.includes(name) ? lastOf(stageOf(name), 'USER') : undefined);
      expect({ service: name, root: isRoot(user) }).toEqual({ service: name, root: false });
    }
  });

  it('runs every process that reads payloads (workers, bridges, payment API) in strict mode: plain payloads are refused', () => {
    for (const name of ['workers', 'bridges', 'payment-api']) {
      expect({ service: name, strict: loadConfig(services[name].environment).PAYLOAD_ENCRYPTION_STRICT }).toEqual({ service: name, strict: true });
    }
  });

  const healthUrls = (name: string) => {
    const test = (services[name].healthcheck?.test ?? []) as string[];
    // What the image runs: its compiled checker, which asks each URL after it.
    expect({ service: name, checker: test.slice(0, 3) }).toEqual({ service: name, checker: ['CMD', 'node', compiled('src/healthcheck.ts')] });
    return test.slice(3);
  };

  // Docker's default weight is 1024: under contention the payment API, whose clients wait on it,
  // runs before the work Temporal and Kafka hold for later (the payment benchmark's project-api-first).
  it('gives the payment API the CPU before the background work: Temporal, the workers and the bridges have a lower cpu_shares', () => {
    const shares = (service: string) => (services[service].cpu_shares as number | undefined) ?? 1024;
    expect(shares('payment-api')).toBe(1024);
    for (const background of ['temporal', 'workers', 'bridges']) expect(shares(background)).toBeLessThan(shares('payment-api'));
  });

  it('checks the health of workers and bridges at the /readyz of the OPS_PORT they serve it on', () => {
    for (const name of ['workers', 'bridges']) {
      const port = loadConfig(services[name].environment).OPS_PORT;
      expect({ service: name, port }).toEqual({ service: name, port: expect.any(Number) });
      expect({ service: name, urls: healthUrls(name) }).toEqual({ service: name, urls: [`http://127.0.0.1:${port}/readyz`] });
    }
  });

  it("checks the health of every other long-running node service on each of its ports, at the list's health path", () => {
    for (const server of nodeServers) {
      const config: Record<string, unknown> = loadConfig(services[server].environment);
      const expected = listed.filter((s) => s.server === server).map((s) => `http://127.0.0.1:${config[s.portVariable]}${s.healthPath}`);
      expect({ service: server, urls: healthUrls(server) }).toEqual({ service: server, urls: expected });
    }
    expect(existsSync(path.join(root, 'src/healthcheck.ts'))).toBe(true);
  });

  it('exports traces from the processes that make spans only when the host sets an OTLP endpoint, each under its own service name', () => {
    for (const name of ['workers', 'bridges']) {
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
    // tini is the images' ENTRYPOINT, so a plain `docker run` has it too; compose's `init` would put a second one above it.
    for (const name of appServices) {
      expect({ service: name, entrypoint: JSON.parse(lastOf(stageOf(name), 'ENTRYPOINT') ?? 'null'), override: services[name].entrypoint, init: services[name].init }).toEqual({
        service: name,
        entrypoint: ['/usr/bin/tini', '--'],
        override: undefined,
        init: undefined,
      });
    }
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)![1]);
    expect(seconds(services.workers.stop_grace_period) * 1000).toBeGreaterThan(defaults.WORKER_SHUTDOWN_GRACE_MS + 5_000);
    expect(seconds(services.bridges.stop_grace_period)).toBeGreaterThanOrEqual(10);
  });

  // Each worker process has a pool per pipeline (src/workers/main.ts); the bridges and the
  // stand-ins one of createPool's default 10. A second worker replica must fit.
  it('starts the codec server after the migrations: its operators, sessions and access audit are tables', () => {
    expect(services['codec-server'].depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
  });

  it("gives PostgreSQL connections for two worker and two bridge replicas, the stand-ins and the codec server", () => {
    const maxConnections = Number(/max_connections=(\d+)/.exec(services.postgres.command.join(' '))![1]);
    const superuserReserved = 3;
    const perWorkerProcess = pipelines.length * pipelinePoolSize(defaults);
    const others = 10 * ['bridges', 'bridges', 'admin-service', 'partner-services', 'payment-provider', 'payment-api'].length + codecServerPoolSize;
    expect(2 * perWorkerProcess + others).toBeLessThanOrEqual(maxConnections - superuserReserved);
  });
  describe('metrics', () => {
    const prometheusConfig = parse(readFileSync(path.join(root, 'observability/prometheus.yml'), 'utf8'));
    const targets: string[] = prometheusConfig.scrape_configs.flatMap((job: any) => job.static_configs.flatMap((c: any) => c.targets));
    const dashboardsDir = 'observability/grafana/dashboards';
    const dashboards = readdirSync(path.join(root, dashboardsDir)).filter((f) => f.endsWith('.json'));
    /** The repository file mounted read-only at `target` in `service`. */
    const mountedAt = (service: string, target: string) =>
      ((services[service].volumes ?? []) as string[]).map((v) => v.split(':')).find(([source, t, mode]) => source!.startsWith('./') && t === target && mode === 'ro')?.[0];

    it('scrapes every metrics port of the workers and bridges, which listen beyond their own loopback', () => {
      const expected = ['workers', 'bridges'].flatMap((name) => {
        const config = loadConfig(services[name].environment);
        expect({ service: name, host: config.OPS_HOST }).toEqual({ service: name, host: '0.0.0.0' });
        return [config.OPS_PORT, config.WORKER_METRICS_PORT].filter((p) => p !== undefined).map((p) => `${name}:${p}`);
      });
      expect(expected).toContain(`workers:${loadConfig(services.workers.environment).WORKER_METRICS_PORT}`);
      expect([...targets].sort()).toEqual(expected.sort());
    });

    it('runs pinned Prometheus and Grafana images, with their configuration mounted read-only from the repository', () => {
      for (const name of ['prometheus', 'grafana']) expect({ name, image: services[name].image }).toEqual({ name, image: expect.stringMatching(/:v?\d+\.\d+\.\d+$/) });
      const config = (services.prometheus.command as string[]).find((a) => a.startsWith('--config.file='))!.split('=')[1]!;
      expect(mountedAt('prometheus', config)).toBe('./observability/prometheus.yml');
      expect(mountedAt('grafana', '/etc/grafana/provisioning')).toBe('./observability/grafana/provisioning');
      const providers = parse(readFileSync(path.join(root, 'observability/grafana/provisioning/dashboards/dashboards.yml'), 'utf8')).providers;
      expect(providers.map((p: any) => mountedAt('grafana', p.options.path))).toEqual([`./${dashboardsDir}`]);
      const [datasource] = parse(readFileSync(path.join(root, 'observability/grafana/provisioning/datasources/prometheus.yml'), 'utf8')).datasources;
      expect([datasource.type, new URL(datasource.url).host]).toEqual(['prometheus', `prometheus:${publishedPorts('prometheus')[0]}`]);
    });

    it("provisions Temporal's SDK dashboard, with its licence, and ours", () => {
      expect(dashboards.sort()).toEqual(['pipelines.json', 'temporal-core-sdk.json']);
      expect(readFileSync(path.join(root, dashboardsDir, 'temporal-core-sdk.LICENSE'), 'utf8')).toMatch(/^The MIT License[\s\S]*Temporal Technologies/);
    });

    /**
     * Ours against the series our code registers; Temporal's against the metric names in the SDK
     * Core sources the installed @temporalio/core-bridge was built from (its exporter adds `temporal_`).
     */
    it('has every dashboard parse and read only series that exist', async () => {
      const registry = new BridgeMetrics().registry;
      runsNeedingAttentionGauges(registry);
      const ours = new Set(
        (await registry.getMetricsAsJSON()).flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name])),
      );
      const core = path.join(root, 'node_modules/@temporalio/core-bridge/sdk-core/crates');
      const coreNames = new Set(
        ['sdk-core/src/telemetry/metrics.rs', 'common/src/telemetry/metrics.rs', 'client/src/metrics.rs'].flatMap((file) =>
          [...readFileSync(path.join(core, file), 'utf8').matchAll(/"([a-z][a-z0-9_]*)"/g)].map((m) => m[1]!),
        ),
      );
      for (const file of dashboards) {
        const text = readFileSync(path.join(root, dashboardsDir, file), 'utf8');
        const dashboard = JSON.parse(text);
        const exprs = JSON.stringify(dashboard.panels).match(/"expr":"(?:[^"\\]|\\.)*"/g) ?? [];
        const series = [...new Set(exprs.flatMap((e) => e.match(/\b(?:temporal|pipelines)_[a-z0-9_]+/g) ?? []))];
        expect({ file, series: series.length > 0 }).toEqual({ file, series: true });
        const missing = series.filter((name) =>
          name.startsWith('pipelines_') ? !ours.has(name) : !coreNames.has(name.replace(/^temporal_/, '').replace(/_(bucket|sum|count)$/, '')),
        );
        expect({ file, missing }).toEqual({ file, missing: [] });
      }
    });
  });

  // docs/production/scale.md: `docker compose up --scale workers=2 --scale bridges=2`. Compose refuses to
  // scale a service with a fixed container name, and a second replica could not bind a published host port.
  it('lets workers and bridges run as several replicas', () => {
    for (const name of ['workers', 'bridges']) {
      expect({ service: name, containerName: services[name].container_name, ports: services[name].ports }).toEqual({ service: name, containerName: undefined, ports: undefined });
    }
  });
});
