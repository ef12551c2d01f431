/**
 * `npm run bench:payments` (not a test): the payment API under a fixed load from a second process
 * while the payments' workflows run, and how fast the charges follow, for the project and for a
 * seed-style payment service written as seed 002 describes it (bench/seed-payments: the payment
 * row and its command in one transaction, an outbox worker polling every 5 s, a command worker),
 * one after the other in one run, each while the other's workers are stopped (the stack's payment
 * API process stays up, idle, while the seed-style service is measured).
 *
 * scripts/bench-payments.sh starts the isolated stack and runs this. For each system:
 *   1. its processes: the project's workers (dist/workers/main.js, from prebuilt workflow bundles)
 *      and the starter of its runs (bench/payments/payment-runs.ts, as the bridges process runs it)
 *      behind the stack's payment API process; or the seed-style API and workers, on a database of
 *      their own (bench_seed);
 *   2. a warm-up, not measured: BENCH_PAYMENTS_WARMUP payments (100) at 20/s, all charged;
 *   3. the load: bench/payments/load.ts sends POST /payments at BENCH_PAYMENTS_RATE/s (200) for
 *      BENCH_PAYMENTS_SECONDS (60), open loop, each request under its own Idempotency-Key, paying
 *      for a course with a card the provider stand-in charges;
 *   4. the drain: until every accepted payment is charged (or declined), no payment was charged
 *      for BENCH_PAYMENTS_STALL_S (60), or BENCH_PAYMENTS_DRAIN_S (300) passed since the load ended.
 * BENCH_PAYMENTS_SYSTEMS (seed,project) chooses and orders the systems. `project-api-first` is the
 * project again with the background work (workers, starter, Temporal server) at a lower CPU
 * priority (BENCH_PAYMENTS_BACKGROUND_NICE, 10), as a host shared with the API should run it; the
 * runs an earlier phase left unfinished keep running in it, so put it after `project`.
 * `project-api` is the project's API under the same load with its workers stopped, which tells
 * the API's own cost from the contention of the runs it starts (put it last: the runs it starts
 * are never worked, and workers started later would work them). BENCH_CHILD_LOG_LEVEL (info) is the processes' log
 * level, as `npm start` runs them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { loadConfig } from '../../src/config';
import { kafkaConnectionOptions } from '../../src/connection-options';
import { createPool, createTemporalClient } from '../../src/connections';
import { paymentTaskQueue } from '../../src/contracts/payment';
import { migrate } from '../../src/migrate';
import { repoDir, setAutogroupNice, Supervised, waitFor } from '../chaos/processes';
import { meter, percentile, type Measured } from '../end-to-end/measure';
import { deadLetterTopic } from '../seed-worker/framework';
import { paymentCommandsTopic } from '../seed-payments/outbox';
import { paymentKey, type LoadOutput } from './load';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  rate: env('BENCH_PAYMENTS_RATE', 200),
  seconds: env('BENCH_PAYMENTS_SECONDS', 60),
  warmup: env('BENCH_PAYMENTS_WARMUP', 100),
  stallSeconds: env('BENCH_PAYMENTS_STALL_S', 60),
  drainSeconds: env('BENCH_PAYMENTS_DRAIN_S', 300),
};
/** The issue's target for the API under that load. */
const target = { rate: 200, p99Ms: 50 };
const warmupRate = 20;
/** `project-api-first`'s priority for the background work (nice: 0 is the default, 19 the lowest). */
const backgroundNiceness = env('BENCH_PAYMENTS_BACKGROUND_NICE', 10);
const seedDatabase = 'bench_seed';

type SystemName = 'seed' | 'project' | 'project-api-first' | 'project-api';
interface System {
  name: SystemName;
  label: string;
  db: Pool;
  apiUrl: string;
  /** Whether anything charges its payments (not the project's API with its workers stopped). */
  charges: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Its own processes by role, for CPU. */
  pids(): Record<string, number | undefined>;
}

const config = loadConfig();
const stateDir = process.env.STACK_STATE_DIR;
if (!stateDir) throw new Error('STACK_STATE_DIR is not set; run the benchmark with `npm run bench:payments`');
const runStart = Date.now();
const say = (line: string) => console.log(`[bench:payments ${((Date.now() - runStart) / 1000).toFixed(0).padStart(4)}s] ${line}`);
const childEnv = { ...process.env, LOG_LEVEL: process.env.BENCH_CHILD_LOG_LEVEL ?? 'info' };
const systems: System[] = [];

async function main(): Promise<void> {
  const tag = `p${(Date.now() % 1_679_616).toString(36)}`;
  const chosen = (process.env.BENCH_PAYMENTS_SYSTEMS ?? 'seed,project').split(',').map((s) => s.trim()) as SystemName[];
  say(`run tag ${tag}; ${settings.rate} requests/s for ${settings.seconds} s per system: ${chosen.join(', ')}`);

  const projectDb = createPool(config);
  const seedDatabaseUrl = await createSeedDatabase();
  const seedDb = createPool({ ...config, DATABASE_URL: seedDatabaseUrl });
  const kafka = new Kafka({ clientId: 'bench-payments', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [paymentCommandsTopic, deadLetterTopic]);
  const client = await createTemporalClient(config);

  for (const name of chosen) {
    if (name === 'seed') systems.push(seedSystem(seedDb, seedDatabaseUrl, admin, await freePort()));
    else if (name === 'project') systems.push(projectSystem(projectDb, client, { withWorkers: true }));
    else if (name === 'project-api-first') systems.push(projectSystem(projectDb, client, { withWorkers: true, backgroundNiceness }));
    else if (name === 'project-api') systems.push(projectSystem(projectDb, client, { withWorkers: false }));
    else throw new Error(`BENCH_PAYMENTS_SYSTEMS: unknown system ${String(name)} (seed, project, project-api-first, project-api)`);
  }

  const results: PaymentBenchResults = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    temporalProfile: process.env.STACK_TEMPORAL_PROFILE ?? 'dev',
    settings,
    systems: {},
  };
  for (const system of systems) {
    say(`== ${system.label}: starting its processes`);
    await system.start();
    say(`${system.name}: warm-up, ${settings.warmup} payments at ${warmupRate}/s (not measured)`);
    // Prefixes that are not each other's beginning: a phase's rows are found by theirs.
    const warm = await runLoad(system, `${tag}-${system.name}-warm`, warmupRate, settings.warmup / warmupRate, {});
    if (system.charges) await drain(system, warm, { stallSeconds: 60, drainSeconds: 180 });
    say(`${system.name}: load, ${settings.rate}/s for ${settings.seconds} s`);
    results.systems[system.name] = await measure(system, `${tag}-${system.name}-load`);
    await system.stop();
  }

  const file = path.join(stateDir!, 'results.json');
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(renderTable(results));
  console.log(`\nAll figures as JSON: ${file}`);
  await admin.disconnect();
  await client.connection.close();
  await Promise.all([projectDb.end(), seedDb.end()]);
}

/**
 * `backgroundNiceness`: the workers, the starter and the Temporal server at that lower CPU priority
 * than the API and PostgreSQL for the phase, as docs/production/scale.md deploys them on a shared
 * host (and a CPU request of its own does in Kubernetes): the runs take what the API leaves.
 */
function projectSystem(db: Pool, client: Client, { withWorkers, backgroundNiceness = 0 }: { withWorkers: boolean; backgroundNiceness?: number }): System {
  // Compiled, as npm start and the image run them (scripts/bench-payments.sh builds dist/).
  const workers = new Supervised('workers', 'dist/workers/main.js', childEnv, say, 'bench-payments');
  // What the bridges process does for payments: it starts the runs of the payments the API accepted.
  const runs = new Supervised('payment-runs', 'bench/payments/payment-runs.ts', childEnv, say, 'bench-payments');
  workers.niceness = runs.niceness = backgroundNiceness;
  // The stack's own payment API process (src/payment-api/main.ts, started by scripts/stack.sh up).
  const apiPid = () => Number(readFileSync(path.join(stateDir!, 'run', 'payment-api.pid'), 'utf8').trim()) || undefined;
  const temporalPid = () => Number(readFileSync(path.join(stateDir!, 'run', 'temporal.pid'), 'utf8').trim());
  const name: SystemName = !withWorkers ? 'project-api' : backgroundNiceness > 0 ? 'project-api-first' : 'project';
  return {
    name,
    label:
      name === 'project'
        ? 'project (payment API + paymentWorkflow on Temporal)'
        : name === 'project-api-first'
          ? `project, its workers, starter and Temporal server at nice ${backgroundNiceness}`
          : "project's payment API, its workers stopped",
    db,
    apiUrl: config.PAYMENT_API_URL,
    charges: withWorkers,
    async start() {
      await waitFor('payment API', 60_000, () => healthy(config.PAYMENT_API_URL));
      if (backgroundNiceness > 0) reniceThreads(temporalPid(), backgroundNiceness);
      runs.start();
      if (!withWorkers) return;
      workers.start();
      // From prebuilt bundles (scripts/bench-payments.sh) they bundle nothing, but still take seconds to poll.
      await waitFor('pollers on the payments task queue', 180_000, async () => {
        const polled = await Promise.all(
          [1, 2].map((taskQueueType) =>
            client.workflowService
              .describeTaskQueue({ namespace: config.TEMPORAL_NAMESPACE, taskQueue: { name: paymentTaskQueue }, taskQueueType })
              .then((r) => r.pollers.length > 0),
          ),
        );
        return polled.every(Boolean) || undefined;
      });
    },
    async stop() {
      await Promise.all([workers.stop(), runs.stop()]);
      if (backgroundNiceness > 0) reniceThreads(temporalPid(), 0);
    },
    pids: () => ({ api: apiPid(), starter: runs.pid, workers: workers.pid }),
  };
}

/**
 * Every thread of a running process (renice -p takes one thread on Linux; threads it starts later
 * inherit it), and its session's autogroup (the stack starts each server in a session of its own).
 */
function reniceThreads(pid: number, niceness: number): void {
  const threads = readdirSync(`/proc/${pid}/task`);
  const result = spawnSync('renice', ['-n', String(niceness), '-p', ...threads], { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`renice ${niceness} of process ${pid}'s threads failed (lowering a priority back needs root)`);
  setAutogroupNice(pid, niceness);
  say(`Temporal server (pid ${pid}): its ${threads.length} threads and its session's autogroup at nice ${niceness}`);
}

function seedSystem(db: Pool, databaseUrl: string, admin: Admin, port: number): System {
  const seedEnv = { ...childEnv, DATABASE_URL: databaseUrl, SEED_PAYMENT_API_PORT: String(port) };
  const api = new Supervised('seed-payment-api', 'bench/seed-payments/api.ts', seedEnv, say, 'bench-payments');
  const workers = new Supervised('seed-payment-workers', 'bench/seed-payments/workers.ts', seedEnv, say, 'bench-payments');
  const apiUrl = `http://127.0.0.1:${port}`;
  return {
    name: 'seed',
    label: 'seed-style (outbox polled every 5 s, command worker)',
    db,
    apiUrl,
    charges: true,
    async start() {
      api.start();
      workers.start();
      await waitFor('seed-style payment API', 60_000, () => healthy(apiUrl));
      await waitFor('the command worker in its group', 120_000, async () => {
        const { groups } = await admin.describeGroups(['payment-command-worker']);
        return groups.every((g) => g.state === 'Stable' && g.members.length > 0) || undefined;
      });
    },
    stop: async () => void (await Promise.all([api.stop(), workers.stop()])),
    pids: () => ({ api: api.pid, workers: workers.pid }),
  };
}

/** A port nothing listens on now, for the seed-style API: the isolated stack's block has none to spare. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const healthy = async (url: string) => ((await fetch(new URL('/health', url))).ok ? true : undefined);

/** The load generator, as a process of its own; resolves with what it recorded. */
async function runLoad(system: System, prefix: string, rate: number, seconds: number, pids: { load?: number }): Promise<LoadOutput> {
  const out = path.join(stateDir!, `load-${prefix}.json`);
  const log = openSync(path.join(stateDir!, 'logs', 'payments-load.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/payments/load.ts'], {
    cwd: repoDir,
    env: { ...process.env, LOAD_URL: system.apiUrl, LOAD_RATE: String(rate), LOAD_SECONDS: String(seconds), LOAD_PREFIX: prefix, LOAD_OUT: out },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  pids.load = child.pid;
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  pids.load = undefined;
  if (code !== 0) throw new Error(`the load generator exited ${code}; see logs/payments-load.log`);
  return JSON.parse(readFileSync(out, 'utf8')) as LoadOutput;
}

interface PaymentRow {
  key: string;
  status: string;
  chargedAt: number | null;
}

async function paymentsOf(db: Pool, prefix: string): Promise<PaymentRow[]> {
  const { rows } = await db.query<{ key: string; status: string; charged_ms: string | null }>(
    `SELECT idempotency_key AS key, status, (extract(epoch FROM charged_at) * 1000)::float8 AS charged_ms
       FROM payments WHERE left(idempotency_key, length($1)) = $1`,
    [`${prefix}-`],
  );
  return rows.map((r) => ({ key: r.key, status: r.status, chargedAt: r.charged_ms === null ? null : Number(r.charged_ms) }));
}

/**
 * Waits until every payment of the load is charged or declined, or nothing moved for
 * `stallSeconds`, or `drainSeconds` passed; says how far it got every 10 s.
 */
async function drain(system: System, load: LoadOutput, limits: { stallSeconds: number; drainSeconds: number }): Promise<{ complete: boolean }> {
  const since = Date.now();
  let lastProgress = Date.now();
  let lastDone = -1;
  let lastSaid = 0;
  for (;;) {
    const rows = await paymentsOf(system.db, load.prefix);
    const done = rows.filter((r) => r.status !== 'Accepted').length;
    if (rows.length > 0 && done === rows.length) return { complete: true };
    if (done !== lastDone) [lastDone, lastProgress] = [done, Date.now()];
    if (Date.now() - lastSaid >= 10_000) {
      say(`${system.name}: ${done} of ${rows.length} payments charged or declined`);
      lastSaid = Date.now();
    }
    if (Date.now() - lastProgress > limits.stallSeconds * 1000 || Date.now() - since > limits.drainSeconds * 1000) {
      say(`${system.name}: gave up waiting: ${rows.length - done} payments still Accepted`);
      return { complete: false };
    }
    await sleep(1_000);
  }
}

interface SystemFigures {
  requests: number;
  /** Send rate actually held: requests over the time from the first to the last send. */
  sentPerSecond: number;
  /** 202s over the time from the first send to the last answer: what the API kept up with. */
  answeredPerSecond: number;
  /** How late requests left against their schedule (the load generator's own delay), ms. */
  lateMs: { p99: number; max: number };
  /** Client-side, from the request leaving to its whole answer, of the 202s, ms. */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Answers other than 202, by status (0: no answer within 10 s or the connection failed). */
  errors: Record<string, number>;
  errorSamples: string[];
  charged: number;
  declined: number;
  stillAccepted: number;
  drainComplete: boolean;
  chargesPerSecond: {
    /** Charges recorded between the first and the last request's send, over that time. */
    duringLoad: number;
    /** All charges over the time from the first request to the last charge. */
    overall: number;
    /** The most charges recorded in one wall-clock second. */
    peakSecond: number;
  };
  /** From the last request's send to the last charge recorded, s; when the drain was incomplete, to when it gave up. */
  lastChargeAfterLastRequestS: number;
  /** Per payment, from its request's send to its charge recorded (charged_at), ms. */
  requestToChargeMs: { p50: number; p99: number; max: number };
  charges: boolean;
  /** CPU over the load and the drain: each process by role, the stack's, and `harness` (this process). */
  measured: Measured;
  cpuMsPerPayment: number;
}

interface PaymentBenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  temporalProfile: string;
  settings: typeof settings;
  systems: Partial<Record<SystemName, SystemFigures>>;
}

async function measure(system: System, prefix: string): Promise<SystemFigures> {
  const pids: { load?: number } = {};
  const meterRun = meter(() => ({ ...system.pids(), load: pids.load }), stackPids());
  const load = await runLoad(system, prefix, settings.rate, settings.seconds, pids);
  const { complete } = system.charges ? await drain(system, load, settings) : { complete: false };
  const drainEndedAt = Date.now();
  const measured = meterRun.stop();

  const sendAt = (index: number, due: number, late: number) => [index, load.startedAt + due + late] as const;
  const sent = new Map(load.requests.map(([index, due, late]) => sendAt(index, due, late)));
  const sends = [...sent.values()];
  const [firstSend, lastSend] = [Math.min(...sends), Math.max(...sends)];
  const accepted = load.requests.filter((r) => r[4] === 202);
  const latencies = accepted.map((r) => r[3]);
  const errors: Record<string, number> = {};
  for (const r of load.requests) if (r[4] !== 202) errors[r[4]] = (errors[r[4]] ?? 0) + 1;

  const rows = await paymentsOf(system.db, prefix);
  const indexOf = new Map(load.requests.map(([index]) => [paymentKey(prefix, index), index]));
  const charges = rows.filter((r) => r.status === 'Charged' && r.chargedAt !== null).map((r) => ({ at: r.chargedAt!, index: indexOf.get(r.key)! }));
  const chargeTimes = charges.map((c) => c.at);
  const lastCharge = chargeTimes.length ? Math.max(...chargeTimes) : NaN;
  const perSecond = new Map<number, number>();
  for (const at of chargeTimes) perSecond.set(Math.floor(at / 1000), (perSecond.get(Math.floor(at / 1000)) ?? 0) + 1);
  const toCharge = charges.map((c) => c.at - sent.get(c.index)!);
  const cpuSeconds = Object.values(measured.cpuSeconds).reduce((sum, v) => sum + (Number.isNaN(v) ? 0 : v), 0);

  return {
    requests: load.requests.length,
    sentPerSecond: (load.requests.length - 1) / ((lastSend - firstSend) / 1000),
    answeredPerSecond: accepted.length / ((Math.max(...accepted.map(([index, , , latency]) => sent.get(index)! + latency)) - firstSend) / 1000),
    lateMs: { p99: percentile(load.requests.map((r) => r[2]), 99), max: Math.max(...load.requests.map((r) => r[2])) },
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: Math.max(...latencies) },
    errors,
    errorSamples: load.errors,
    charged: charges.length,
    declined: rows.filter((r) => r.status === 'Declined').length,
    stillAccepted: rows.filter((r) => r.status === 'Accepted').length,
    drainComplete: complete,
    charges: system.charges,
    chargesPerSecond: {
      duringLoad: chargeTimes.filter((at) => at >= firstSend && at <= lastSend).length / ((lastSend - firstSend) / 1000),
      overall: charges.length / ((lastCharge - firstSend) / 1000),
      peakSecond: Math.max(0, ...perSecond.values()),
    },
    lastChargeAfterLastRequestS: ((complete ? lastCharge : drainEndedAt) - lastSend) / 1000,
    requestToChargeMs: { p50: percentile(toCharge, 50), p99: percentile(toCharge, 99), max: Math.max(...toCharge) },
    measured,
    // None charged in the phase (its workers busy with an earlier phase's runs): no figure, not the phase's CPU over 1.
    cpuMsPerPayment: charges.length > 0 ? (cpuSeconds * 1000) / charges.length : Number.NaN,
  };
}

/** The stack's processes whose CPU the payments use: pid files of scripts/stack.sh, and PostgreSQL's postmaster.pid. */
function stackPids(): Record<string, number | undefined> {
  const firstLine = (file: string) => {
    try {
      return Number(readFileSync(path.join(stateDir!, file), 'utf8').split('\n')[0]!.trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  return {
    temporal: firstLine('run/temporal.pid'),
    postgres: firstLine('postgres/data/postmaster.pid'),
    kafka: firstLine('run/kafka.pid'),
    paymentProvider: firstLine('run/payment-provider.pid'),
  };
}

/** A database of the seed-style service's own beside the project's: the same migrations (its `payments`), and its outbox. */
async function createSeedDatabase(): Promise<string> {
  // As the seed's processes connected, and only the superuser may create a database: the local
  // stack's superuser (scripts/stack/postgres.sh), never the project's roles.
  const url = new URL(config.DATABASE_URL);
  url.username = 'postgres';
  url.password = 'postgres';
  const superuserDb = createPool({ ...config, DATABASE_URL: url.toString() }, { max: 1 });
  try {
    const exists = await superuserDb.query('SELECT 1 FROM pg_database WHERE datname = $1', [seedDatabase]);
    if (exists.rowCount === 0) await superuserDb.query(`CREATE DATABASE ${seedDatabase}`);
  } finally {
    await superuserDb.end();
  }
  url.pathname = `/${seedDatabase}`;
  const seedDb = createPool({ ...config, DATABASE_URL: url.toString() });
  try {
    await migrate(seedDb);
    await seedDb.query(readFileSync(path.join(repoDir, 'bench', 'seed-payments', 'schema.sql'), 'utf8'));
  } finally {
    await seedDb.end();
  }
  return url.toString();
}

/** The seed-style service's command topic and the legacy framework's dead-letter topic, 3 partitions as the seeds' topics. */
async function ensureTopics(admin: Admin, topics: string[]): Promise<void> {
  const existing = await admin.listTopics();
  const missing = topics.filter((t) => !existing.includes(t));
  if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '—');
const s1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '—');
const count = (v: number) => v.toLocaleString('en-US');

function renderTable(results: PaymentBenchResults): string {
  const names = (['seed', 'project', 'project-api-first', 'project-api'] as const).filter((n) => results.systems[n]);
  const col = (f: (r: SystemFigures) => string) => names.map((n) => f(results.systems[n]!));
  // Charge figures of a system that charges nothing (the API with its workers stopped) are not zeros.
  const charged = (f: (r: SystemFigures) => string) => col((r) => (r.charges ? f(r) : '— (no workers)'));
  const errorsOf = (r: SystemFigures) => {
    const total = Object.values(r.errors).reduce((a, b) => a + b, 0);
    return total === 0 ? '0' : `${total} (${Object.entries(r.errors).map(([status, n]) => `${status === '0' ? 'no answer' : status}: ${n}`).join(', ')})`;
  };
  const rows: string[][] = [
    ['Requests sent, rate held', ...col((r) => `${count(r.requests)} at ${r.sentPerSecond.toFixed(1)}/s`)],
    ['202s answered per second, first send to last answer', ...col((r) => r.answeredPerSecond.toFixed(1))],
    ['API latency p50 / p95 / p99 / max, ms', ...col((r) => `${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p95)} / ${ms(r.latencyMs.p99)} / ${ms(r.latencyMs.max)}`)],
    [`p99 < ${target.p99Ms} ms at ${target.rate}/s`, ...col((r) => (settings.rate !== target.rate ? `not measured at ${target.rate}/s` : r.latencyMs.p99 < target.p99Ms ? 'met' : 'not met'))],
    ['Errors (not 202)', ...col(errorsOf)],
    ['Load generator sending late, p99 / max, ms', ...col((r) => `${ms(r.lateMs.p99)} / ${ms(r.lateMs.max)}`)],
    ['Charges recorded/s, during the load / overall / peak second', ...charged((r) => `${s1(r.chargesPerSecond.duringLoad)} / ${s1(r.chargesPerSecond.overall)} / ${r.chargesPerSecond.peakSecond}`)],
    [
      'Request → charge recorded, p50 / p99 / max, s',
      ...charged((r) => `${s1(r.requestToChargeMs.p50 / 1000)} / ${s1(r.requestToChargeMs.p99 / 1000)} / ${s1(r.requestToChargeMs.max / 1000)}${r.drainComplete ? '' : ' (of those charged)'}`),
    ],
    ['Last charge after the last request, s', ...charged((r) => (r.drainComplete ? s1(r.lastChargeAfterLastRequestS) : `> ${s1(r.lastChargeAfterLastRequestS)} (stopped waiting)`))],
    ['Charged / declined / still Accepted', ...col((r) => `${count(r.charged)} / ${r.declined} / ${count(r.stillAccepted)}`)],
    ['CPU per payment charged, all processes, ms', ...charged((r) => ms(r.cpuMsPerPayment))],
    ['Other work on the machine, cores', ...col((r) => r.measured.otherCores.toFixed(2))],
  ];
  const m = results.machine;
  const widths = [0, ...names.map(() => 0)].map((_, i) => Math.max(...[['Figure', ...names], ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `\n== Payment benchmark, ${results.date} ==`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}; Temporal profile: ${results.temporalProfile}`,
    `Load: ${settings.rate} POST /payments per second for ${settings.seconds} s from a second process, open loop, one Idempotency-Key each`,
    line(['Figure', ...names]),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

const stopAll = () => Promise.all(systems.map((s) => s.stop().catch(() => undefined)));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping the processes`);
    void stopAll().finally(() => process.exit(130));
  });
}

void main()
  .then(() => 0)
  .catch((err) => {
    say(`failed: ${(err as Error).stack ?? err}`);
    return 1;
  })
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  });
