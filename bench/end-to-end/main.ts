/**
 * `npm run bench` (not a test): the whole path users feel — a Kafka event in, its rows written,
 * the workflow at rest — for the project and for a seed-style worker written as the legacy
 * systems were (bench/seed-worker), on the same streams, each measured while the other is not
 * running. Ratios matter more than absolute figures: the machine is shared and drifts, and both
 * systems are measured minutes apart in one run.
 *
 * scripts/bench.sh starts the isolated stack and runs this. For each system in turn (fresh topics,
 * the admin service's allocations reset, its processes started and idle):
 *   1. booking backlog drain   BENCH_BOOKINGS bookings (2000; 200 quick), BENCH_DUPLICATES (0.1) of them twice
 *   2. booking light load      BENCH_LIGHT_EVENTS (200; 50 quick) at BENCH_LIGHT_RATE/s (10), every tenth a cancellation
 *   3. purchase backlog drain  BENCH_PURCHASES confirmations (500; 60 quick), the same share twice
 *   4. purchase light load     BENCH_LIGHT_EVENTS at BENCH_LIGHT_PURCHASE_RATE/s (2)
 *   5. prescription drain      project only (there is no seed-style prescription worker): BENCH_PRESCRIPTIONS
 *                              intakes (200; 40 quick), the same share twice, all fully covered; the workers and
 *                              bridges track parcels as the bench settings profile says (every 1s)
 *   6. open bookings           more bookings until BENCH_OPEN_BOOKINGS (10,000; 600 quick) are open; the worker's
 *                              RSS at its peak while they are opened (sampled) and at rest afterwards
 * then the bridge-only figures of bench/bridge-throughput.ts (BENCH_BRIDGE=0 skips them;
 * BENCH_BRIDGE_EVENTS, 3000; 300 quick). Other knobs: BENCH_SEED (the streams), BENCH_STALL_S
 * (120: a phase gives up when no row was added for this long), BENCH_PHASE_TIMEOUT_S (2400; 600
 * quick: ...or when it has taken this long; the table then says how far it got), BENCH_CHILD_LOG_LEVEL (info, as
 * `npm start` runs the processes; the seed-style worker logs each event as the legacy ones did).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { Pool } from 'pg';
import { loadConfig } from '../../src/config';
import { kafkaConnectionOptions } from '../../src/connection-options';
import { createPool, createProducer, createTemporalClient } from '../../src/connections';
import { bookingWorkflow } from '../../src/workflows/booking';
import { migrate } from '../../src/migrate';
import { pipelines, topicsOf } from '../../src/pipelines';
import { fulfillmentTimings } from '../../src/pipelines/prescription-fulfillment';
import { repoDir } from '../chaos/processes';
import { deadLetterTopic } from '../seed-worker/framework';
import { meter, rssBytes } from './measure';
import { drainPrescriptions, prescriptionBacklog, type PrescriptionStream } from './prescriptions';
import { drain, trickle, type PhaseContext } from './phases';
import { report, type Results, type SystemResults } from './report';
import { benchRooms, benchTrainers, benchUsers, bookingBacklog, bookingTrickle, purchaseBacklog, type Stream } from './stream';
import { projectSystem, seedSystem, stackPids, type System } from './systems';

const quick = process.env.BENCH_QUICK === '1';
const env = (name: string, fallback: number, quickFallback = fallback) => Number(process.env[name] ?? (quick ? quickFallback : fallback));
const settings = {
  seed: env('BENCH_SEED', 20261127),
  bookings: env('BENCH_BOOKINGS', 2000, 200),
  purchases: env('BENCH_PURCHASES', 500, 60),
  duplicateShare: env('BENCH_DUPLICATES', 0.1),
  lightEvents: env('BENCH_LIGHT_EVENTS', 200, 50),
  // The light load; the table shows it as a share of each system's drain rate, since a
  // rate near what a system drains measures its queue, not its path.
  lightRate: env('BENCH_LIGHT_RATE', 10),
  lightPurchaseRate: env('BENCH_LIGHT_PURCHASE_RATE', 2),
  openBookings: env('BENCH_OPEN_BOOKINGS', 10_000, 600),
  prescriptions: env('BENCH_PRESCRIPTIONS', 200, 40),
  stallSeconds: env('BENCH_STALL_S', 120),
  phaseTimeoutSeconds: env('BENCH_PHASE_TIMEOUT_S', 2400, 600),
  bridgeEvents: env('BENCH_BRIDGE_EVENTS', 3000, 300),
};
const runBridgePhase = process.env.BENCH_BRIDGE !== '0';
const seedDatabase = 'bench_seed';

const config = loadConfig();
const stateDir = process.env.STACK_STATE_DIR;
if (!stateDir) throw new Error('STACK_STATE_DIR is not set; run the benchmark with `npm run bench`');
const runStart = Date.now();
const say = (line: string) => console.log(`[bench ${((Date.now() - runStart) / 1000).toFixed(0).padStart(5)}s] ${line}`);
// Prescriptions: nothing owed, so no payment wait; the carrier is asked as often as scripts/bench.sh's
// settings profile says (every second), not every 4 hours. The children read the same profile.
const { trackingInterval } = fulfillmentTimings();
const childEnv = { ...process.env, LOG_LEVEL: process.env.BENCH_CHILD_LOG_LEVEL ?? 'info' };
const systems: System[] = [];

async function main(): Promise<void> {
  const tag = `r${(Date.now() % 1_679_616).toString(36)}`;
  // Every ID of a phase starts with its prefix; both systems get the same events.
  const phase = (prefix: string, stream: (prefix: string) => Stream): Phase => ({ prefix: `${tag}${prefix}`, stream: stream(`${tag}${prefix}`) });
  const { seed, duplicateShare } = settings;
  const phases = {
    bookingDrain: phase('bd', (p) => bookingBacklog(seed, p, settings.bookings, { duplicateShare, rejectShare: 0.03 })),
    bookingLight: phase('bl', (p) => bookingTrickle(seed + 1, p, settings.lightEvents)),
    purchaseDrain: phase('pd', (p) => purchaseBacklog(seed + 2, p, settings.purchases, duplicateShare)),
    purchaseLight: phase('pl', (p) => purchaseBacklog(seed + 3, p, settings.lightEvents, 0)),
  };
  const prescriptionPrefix = `${tag}rx`;
  const prescriptions = prescriptionBacklog(seed + 5, prescriptionPrefix, settings.prescriptions, duplicateShare);
  const openSoFar = [phases.bookingDrain, phases.bookingLight]
    .flatMap((ph) => [...ph.stream.expect.bookings.values()])
    .filter((status) => status === 'Accepted').length;
  const open = phase('bo', (p) => bookingBacklog(seed + 4, p, Math.max(0, settings.openBookings - openSoFar), { duplicateShare: 0, rejectShare: 0 }));
  say(`run tag ${tag}, seed ${settings.seed}, Temporal profile ${process.env.STACK_TEMPORAL_PROFILE ?? 'dev'}${quick ? ', quick' : ''}`);

  const projectDb = createPool(config);
  const seedDatabaseUrl = await createSeedDatabase();
  const seedDb = createPool({ ...config, DATABASE_URL: seedDatabaseUrl });
  for (const db of [projectDb, seedDb]) await seedReferenceData(db);
  await seedTrainers();

  // Quiet: describing groups before their coordinator is up logs errors that mean nothing here.
  const kafka = new Kafka({ clientId: 'bench', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const producer = createProducer(kafka);
  await producer.connect();
  const client = await createTemporalClient(config);
  const options = { env: childEnv, say, admin };
  systems.push(seedSystem(seedDb, seedDatabaseUrl, options), projectSystem(projectDb, client, config.TEMPORAL_NAMESPACE, options));
  const ctx: PhaseContext = {
    producer,
    say,
    stackPids: stackPids(),
    stallSeconds: settings.stallSeconds,
    timeoutSeconds: settings.phaseTimeoutSeconds,
  };

  const results: Results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    temporalProfile: process.env.STACK_TEMPORAL_PROFILE ?? 'dev',
    quick,
    settings,
    records: {
      bookingDrain: phases.bookingDrain.stream.events.length,
      bookingLight: phases.bookingLight.stream.events.length,
      purchaseDrain: phases.purchaseDrain.stream.events.length,
      purchaseLight: phases.purchaseLight.stream.events.length,
      openTopUp: open.stream.events.length,
      prescriptionDrain: prescriptions.events.length,
    },
    prescriptionTrackingInterval: trackingInterval,
    systems: {},
  };

  for (const system of systems) {
    say(`== ${system.name}: fresh topics, admin-service allocations reset, starting its processes`);
    await freshTopics(admin);
    // The same admin-service state for both: after the first system's run, the second one's
    // requests would only find the allocations already made.
    await projectDb.query('DELETE FROM admin_allocations; UPDATE admin_trainers SET allocated = 0');
    await system.start();
    say(`${system.name}: consumers idle and assigned${system.name === 'project' ? ', workers polling' : ''}`);
    // Start-up (tsx, the workers' workflow bundles) leaves memory behind before any event.
    const idleRss = Object.fromEntries(Object.entries(system.pids()).map(([role, pid]) => [role, pid === undefined ? NaN : rssBytes(pid)]));
    results.systems[system.name] = { idleRss, ...(await measure(ctx, system, phases, open, client, admin, { prefix: prescriptionPrefix, stream: prescriptions })) };
    await system.stop();
  }

  if (runBridgePhase) results.bridge = await bridgeOnly();
  const file = path.join(stateDir!, 'results.json');
  results.file = file;
  report(results, file);
  await producer.disconnect();
  await admin.disconnect();
  await client.connection.close();
  await Promise.all([projectDb.end(), seedDb.end()]);
}

interface Phase {
  prefix: string;
  stream: Stream;
}

async function measure(
  ctx: PhaseContext,
  system: System,
  phases: Record<'bookingDrain' | 'bookingLight' | 'purchaseDrain' | 'purchaseLight', Phase>,
  open: Phase,
  client: Client,
  admin: Admin,
  rx: { prefix: string; stream: PrescriptionStream },
): Promise<Omit<SystemResults, 'idleRss'>> {
  const name = system.name;
  const { bookingDrain: bd, bookingLight: bl, purchaseDrain: pd, purchaseLight: pl } = phases;
  say(`${name}: booking backlog drain, ${bd.stream.expect.bookings.size} bookings in ${bd.stream.events.length} records`);
  const bookingDrain = await drain(ctx, system, 'booking', bd.prefix, bd.stream);
  say(`${name}: booking light load, ${bl.stream.events.length} records at ${settings.lightRate}/s`);
  const bookingLight = await trickle(ctx, system, 'booking', bl.prefix, bl.stream, settings.lightRate);
  say(`${name}: purchase backlog drain, ${pd.stream.expect.purchases.size} purchases in ${pd.stream.events.length} records`);
  const purchaseDrain = await drain(ctx, system, 'purchase', pd.prefix, pd.stream);
  say(`${name}: purchase light load, ${pl.stream.events.length} records at ${settings.lightPurchaseRate}/s`);
  const purchaseLight = await trickle(ctx, system, 'purchase', pl.prefix, pl.stream, settings.lightPurchaseRate);
  // Before the open bookings, so the worker is not also holding thousands of open runs.
  let prescriptionDrain;
  if (name === 'project' && rx.stream.ids.length > 0) {
    say(`${name}: prescription backlog drain, ${rx.stream.ids.length} prescriptions in ${rx.stream.events.length} intake records`);
    const measured = meter(() => system.pids(), ctx.stackPids);
    const drained = await drainPrescriptions(ctx, system.db, rx.prefix, rx.stream);
    prescriptionDrain = { ...drained, cpuSeconds: measured.stop().cpuSeconds };
  }
  say(`${name}: open bookings, ${open.stream.events.length} more bookings`);
  const openDrain = open.stream.events.length > 0 ? await drain(ctx, system, 'booking', open.prefix, open.stream) : undefined;
  const project = name === 'project';
  const count = async (query: string) => (project ? (await client.workflow.count(query)).count : undefined);
  const pid = system.pids().worker;
  return {
    bookingDrain,
    bookingLight,
    purchaseDrain,
    purchaseLight,
    prescriptionDrain,
    open: openDrain,
    openRuns: await count(`WorkflowType='${bookingWorkflow.name}' AND ExecutionStatus='Running'`),
    // drain() returned once the top-up was at rest: this is the worker holding the open runs, idle.
    workerRssAtRestWithOpenBookings: pid === undefined ? NaN : rssBytes(pid),
    needingPerson: await count(`PipelineStatus='NeedsAttention'`),
    deadLettered: (await admin.fetchTopicOffsets(deadLetterTopic)).reduce((sum, p) => sum + Number(p.high), 0),
    crashes: system.crashes(),
    refusalsExpected: [pd, pl].flatMap((ph) => [...ph.stream.expect.purchases.values()]).filter((p) => !p.taught).length,
  };
}

/** A database of the seed-style worker's own beside the project's, with the same migrations and its processed_events. */
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
    await seedDb.query(readFileSync(path.join(repoDir, 'bench', 'seed-worker', 'schema.sql'), 'utf8'));
  } finally {
    await seedDb.end();
  }
  return url.toString();
}

async function seedReferenceData(db: Pool): Promise<void> {
  await db.query(
    `INSERT INTO users (user_ref, email, username) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
    [benchUsers.map((u) => u.userRef), benchUsers.map((u) => u.email), benchUsers.map((u) => u.username)],
  );
  await db.query(`INSERT INTO rooms (internal_id, name) SELECT r, r FROM unnest($1::text[]) AS r ON CONFLICT DO NOTHING`, [benchRooms]);
}

/** Through the admin service's own API, as bench/chaos does. */
async function seedTrainers(): Promise<void> {
  for (const { trainerId, ...body } of benchTrainers) {
    const res = await fetch(new URL(`/trainers/${trainerId}`, config.ADMIN_SERVICE_URL), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`admin service refused trainer ${trainerId}: ${res.status} ${await res.text()}`);
  }
}

/**
 * Deletes and recreates every pipeline topic (and the seed's dead-letter topic), so a system sees
 * only its own run's events: the other system's stream and emitted events are gone.
 */
async function freshTopics(admin: Admin): Promise<void> {
  const specs = [...topicsOf(pipelines), { topic: deadLetterTopic, partitions: 3 }];
  const names = specs.map((s) => s.topic);
  const existing = (await admin.listTopics()).filter((t) => names.includes(t));
  if (existing.length > 0) await admin.deleteTopics({ topics: existing, timeout: 30_000 });
  const deadline = Date.now() + 60_000;
  while ((await admin.listTopics()).some((t) => names.includes(t))) {
    if (Date.now() > deadline) throw new Error('topics still there a minute after deleting them');
    await sleep(500);
  }
  // The controller may still be finishing the deletion.
  await retry(() => admin.createTopics({ topics: specs.map((s) => ({ topic: s.topic, numPartitions: s.partitions })), waitForLeaders: true }), deadline);
  for (const topic of names) {
    // Right after the creation the broker may not lead the new partitions yet.
    const offsets = await retry(() => admin.fetchTopicOffsets(topic), deadline);
    if (offsets.some((o) => Number(o.high) !== 0)) throw new Error(`topic ${topic} is not empty after recreating it`);
  }
}

async function retry<T>(work: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1_000);
    }
  }
}

/** The bridge-only figures (bench/bridge-throughput.ts), with no worker running. */
async function bridgeOnly(): Promise<Record<string, unknown>> {
  say(`bridge only: ${settings.bridgeEvents} signal-with-starts from a plain client loop, then through the bridge, no worker running`);
  const file = path.join(stateDir!, 'bridge-results.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bridge-throughput.ts'], {
    cwd: repoDir,
    stdio: 'inherit',
    env: {
      ...process.env,
      BENCH_EVENTS: String(settings.bridgeEvents),
      BENCH_LIGHT_EVENTS: String(quick ? 50 : 300),
      BENCH_LIGHT_RATE: '20',
      BENCH_BRIDGE_JSON: file,
    },
  });
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) return { failed: `exit ${code}` };
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
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
