/**
 * `npm run chaos` (not a test): thousands of mixed booking, purchase and prescription events, with duplicates,
 * reordering, cancellations first and poison records of every kind, pushed through the real
 * workers and bridges on an isolated stack, and payments sent to the payment API, while faults
 * are injected one after another: the insurer answers slower than the clients wait for a minute,
 * the card processor fails every request for a minute and then answers slower than the workers
 * wait for another, the payment API, the card processor, the worker, the bridge, the Temporal dev
 * server and Kafka are SIGKILLed, PostgreSQL is stopped for a minute, the `prescriptions` table is
 * locked for five minutes, a second bridges process joins and is SIGKILLed mid-rebalance, two
 * workers and two bridges processes run from the start and one of each is SIGKILLed mid-stream, and
 * the payload key is rotated in two steps with rolling restarts (processes.ts). Each fault reports
 * what it observed; one that cannot show it happened fails the run. Then the final state is
 * checked against what the stream implies, one line per figure, with the goal beside each, and
 * the money of every payment against the ledger and the card processor. Prescriptions owing a
 * copay are paid through the payment API once their payment link exists (payments.ts);
 * scripts/chaos.sh sets short fulfillment timings for the workers and bridges.
 *
 * scripts/chaos.sh starts the isolated stack (its own state directory and ports), applies the
 * migrations, runs this, and tears everything down. Variables:
 *   CHAOS_EVENTS (5000; 300 with CHAOS_QUICK=1)   CHAOS_SEED (random; printed)
 *   CHAOS_RATE events/s (25; 15 quick)            CHAOS_PG_STOP_S (60; 20 quick)
 *   CHAOS_DRAIN_TIMEOUT_S (1200; 600 quick)       CHAOS_SETTLE_S (90)
 *   CHAOS_LOCK_S: the table lock's length (300; 30 quick)   CHAOS_PARTNER_SLOW_S (60)
 *   CHAOS_PROVIDER_OUTAGE_S (60)                  CHAOS_PROVIDER_SLOW_S (60)
 *   CHAOS_PAYMENT_SPAN_S: course payments are sent over this long from the stream's start (600; 360 quick)
 *   CHAOS_PAYMENT_RATE: courses bought once through the payment API per minute of that span (4)
 *   CHAOS_POISON: the poison kinds to send, comma-separated (all of them by default; see stream.ts)
 *   CHAOS_PAYMENTS: the payment kinds to send, comma-separated (all of them by default; see stream.ts),
 *     e.g. course,declined,same-key for a run without second payments
 *   CHAOS_FAULTS: the faults to inject, comma-separated by their schedule names below (all of them by
 *     default), e.g. replicas for only the two-of-each fault
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { loadConfig } from '../../src/config';
import { kafkaConnectionOptions } from '../../src/connection-options';
import { failureConverterPath } from '../../src/codec/data-converter';
import { createPool, createTemporalClient } from '../../src/connections';
import {
  evaluate,
  PrescriptionOutcomes,
  readEmitted,
  readState,
  runsStartedTwice,
  verdict,
  type FaultOutcome,
  type Figures,
  type Sources,
} from './check';
import { Payer, type PayerReport } from './payments';
import { faults, pollEveryTaskQueue, ReloadableCodec, Supervised, type Fault, type FaultSchedule } from './processes';
import {
  buildStream,
  chaosRooms,
  chaosTrainers,
  chaosUsers,
  paymentKinds,
  poisonKinds,
  type ChaosRecord,
  type PaymentKind,
  type PoisonKind,
} from './stream';

const quick = process.env.CHAOS_QUICK === '1';
const env = (name: string, fallback: number, quickFallback = fallback) => Number(process.env[name] ?? (quick ? quickFallback : fallback));
const settings = {
  events: env('CHAOS_EVENTS', 5000, 300),
  seed: env('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31)),
  rate: env('CHAOS_RATE', 25, 15),
  postgresStopSeconds: env('CHAOS_PG_STOP_S', 60, 20),
  drainTimeoutSeconds: env('CHAOS_DRAIN_TIMEOUT_S', 1200, 600),
  settleSeconds: env('CHAOS_SETTLE_S', 90),
  tableLockSeconds: env('CHAOS_LOCK_S', 300, 30),
  slowPartnerSeconds: env('CHAOS_PARTNER_SLOW_S', 60),
  providerOutageSeconds: env('CHAOS_PROVIDER_OUTAGE_S', 60),
  providerSlowSeconds: env('CHAOS_PROVIDER_SLOW_S', 60),
  paymentSpanSeconds: env('CHAOS_PAYMENT_SPAN_S', 600, 360),
  coursePaymentsPerMinute: env('CHAOS_PAYMENT_RATE', 4),
};
const poison = (process.env.CHAOS_POISON?.split(',').map((k) => k.trim()).filter(Boolean) ?? [...poisonKinds]) as PoisonKind[];
const unknownPoison = poison.filter((k) => !poisonKinds.includes(k));
if (unknownPoison.length) throw new Error(`CHAOS_POISON: unknown kinds ${unknownPoison.join(', ')}; known: ${poisonKinds.join(', ')}`);
const poisonLeftOut = poisonKinds.filter((k) => !poison.includes(k));
const payments = (process.env.CHAOS_PAYMENTS?.split(',').map((k) => k.trim()).filter(Boolean) ?? [...paymentKinds]) as PaymentKind[];
const unknownPayments = payments.filter((k) => !paymentKinds.includes(k));
if (unknownPayments.length) throw new Error(`CHAOS_PAYMENTS: unknown kinds ${unknownPayments.join(', ')}; known: ${paymentKinds.join(', ')}`);
const paymentsLeftOut = paymentKinds.filter((k) => !payments.includes(k));

/**
 * A run parked at an outage retries by itself every 2 minutes (a database step) or 5 minutes (the
 * admin service): while any is parked, quiet is only taken as the end after longer than that.
 */
const outageSettleSeconds = 330;
/**
 * Seconds after the stream started; each fault also waits until the one before it is over, so this
 * is their order. The slow partner comes while prescriptions still arrive: its proof is calls it
 * held. The card processor's faults come while course payments are still being sent (the payment
 * span) and copays are being paid.
 */
const schedule: FaultSchedule = quick
  ? {
      slowPartner: 2, paymentApi: 4, paymentProvider: 6, worker: 8, replicas: 9, providerOutage: 10, providerSlow: 12, bridge: 14,
      temporal: 20, kafka: 35, postgres: 55, tableLock: 80, secondBridge: 90, keyRotation: 100,
    }
  : {
      worker: 30, replicas: 45, bridge: 60, paymentApi: 66, paymentProvider: 70, slowPartner: 75, providerOutage: 140, providerSlow: 205,
      temporal: 270, kafka: 300, postgres: 330, tableLock: 400, secondBridge: 710, keyRotation: 730,
    };
const faultKeys = Object.keys(schedule) as Array<keyof FaultSchedule>;
const chosenFaults = (process.env.CHAOS_FAULTS?.split(',').map((k) => k.trim()).filter(Boolean) ?? faultKeys) as Array<keyof FaultSchedule>;
const unknownFaults = chosenFaults.filter((k) => !faultKeys.includes(k));
if (unknownFaults.length) throw new Error(`CHAOS_FAULTS: unknown faults ${unknownFaults.join(', ')}; known: ${faultKeys.join(', ')}`);

const config = loadConfig();
const childEnv = { ...process.env, LOG_LEVEL: process.env.CHAOS_CHILD_LOG_LEVEL ?? 'warn' };
const workers = new Supervised('workers', 'src/workers/main.ts', childEnv, (line) => say(line));
const bridges = new Supervised('bridges', 'src/bridges/main.ts', childEnv, (line) => say(line));
/** Started by the two-bridges fault and left running: replicas share the partitions from then on. */
const secondBridges = new Supervised('bridges-2', 'src/bridges/main.ts', childEnv, (line) => say(line));
/** With the replicas fault: a second of each from the start, as a platform runs them. */
const replicas = {
  workers: new Supervised('workers-b', 'src/workers/main.ts', childEnv, (line) => say(line)),
  bridges: new Supervised('bridges-b', 'src/bridges/main.ts', childEnv, (line) => say(line)),
};
const stopChildren = () => Promise.all([workers, bridges, secondBridges, replicas.workers, replicas.bridges].map((c) => c.stop()));
const runStart = Date.now();
const clock = () => `${((Date.now() - runStart) / 1000).toFixed(0).padStart(5)}s`;
const say = (line: string) => console.log(`[chaos ${clock()}] ${line}`);

async function main(): Promise<number> {
  const tag = `c${settings.seed.toString(36)}${(Date.now() % 46656).toString(36)}`;
  const coursePayments = Math.round((settings.coursePaymentsPerMinute * settings.paymentSpanSeconds) / 60);
  const stream = buildStream(settings.seed, tag, settings.events, poison, payments, coursePayments);
  say(`seed ${settings.seed} (repeat with CHAOS_SEED=${settings.seed}${quick ? ' CHAOS_QUICK=1' : ''}), run tag ${tag}, ${stream.records.length} events`);
  if (poisonLeftOut.length) say(`poison kinds left out (CHAOS_POISON): ${poisonLeftOut.join(', ')}`);
  if (paymentsLeftOut.length) say(`payment kinds left out (CHAOS_PAYMENTS): ${paymentsLeftOut.join(', ')}`);
  if (chosenFaults.length < faultKeys.length) say(`faults (CHAOS_FAULTS): ${chosenFaults.join(', ')}`);
  say(`stories: ${Object.entries(stream.stories).map(([k, v]) => `${k} ${v}`).join(', ')}`);

  const db = createPool(config);
  // Read again by the key-rotation fault, so results under the new key decode here too.
  const codec = new ReloadableCodec(config.PAYLOAD_KEY_RING_FILE);
  const client = await createTemporalClient(config, { payloadCodecs: [codec], failureConverterPath });
  await seed(db);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping the workers and bridges`);
      void stopChildren().finally(() => process.exit(130));
    });
  }
  const children = chosenFaults.includes('replicas') ? [workers, bridges, replicas.workers, replicas.bridges] : [workers, bridges];
  for (const child of children) child.start();
  await waitForPollers(client, children.flatMap((c) => (c.entry === 'src/workers/main.ts' ? [c.pid] : [])));
  say(`${children.map((c) => c.name).join(', ')} running, workers polling every task queue; starting the stream and the faults`);

  const streamStart = Date.now();
  const faultList = faults({ config, client, codec, workers, bridges, secondBridges, replicas, schedule, ...settings }).filter((f) => chosenFaults.includes(f.key));
  const payer = new Payer({
    apiUrl: config.PAYMENT_API_URL,
    db,
    tag,
    payments: [...stream.expect.payments.values()],
    spanMs: settings.paymentSpanSeconds * 1000,
    say,
  });
  payer.start();
  const [produced, { lastFaultEnd, faultOutcomes }] = await Promise.all([
    produce(stream.records),
    injectFaults(faultList, streamStart),
  ]);
  say(`stream sent: ${produced.sent} events in ${((produced.doneAt - streamStart) / 1000).toFixed(0)} s (${produced.resent} resent after producer errors)`);

  const outcomes = new PrescriptionOutcomes();
  // After the faults: an admin client does not outlive a Kafka it connected to.
  const checker = new Kafka({ clientId: 'chaos-checker', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING });
  const admin = checker.admin();
  await admin.connect();
  const sources: Sources = { db, client, admin };
  const drain = await waitUntilDrained(sources, tag, stream.expect, faultOutcomes, lastFaultEnd, outcomes, payer);
  const paid = await payer.stop();
  // Read again whatever the drain ended with: the emitted topics are read only now, from the beginning.
  const emitted = await readEmitted(checker, tag).catch((err) => ({ events: [], unread: (err as Error).message }));
  const final = await readState(sources, tag, stream.expect, outcomes).then(
    (state) => evaluate(stream.expect, { ...state, emitted, paymentAnswers: paid.problems }, faultOutcomes),
    (err) => {
      say(`the final read failed (${(err as Error).message}); reporting the drain's last figures`);
      return drain.figures;
    },
  );
  const twice = await runsStartedTwice(client).catch((err) => [`(could not list runs: ${(err as Error).message})`]);
  await stopChildren();

  const met = final ? report({ stream, produced, final, twice, drain, paid }) : (say('no figures were ever read; GOAL NOT MET'), false);
  await admin.disconnect();
  await db.end();
  await client.connection.close();
  return met ? 0 : 1;
}

async function seed(db: ReturnType<typeof createPool>): Promise<void> {
  for (const u of chaosUsers) {
    await db.query(`INSERT INTO users (user_ref, email, username) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [u.userRef, u.email, u.username]);
  }
  for (const r of chaosRooms) await db.query(`INSERT INTO rooms (internal_id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [r]);
  // Through the admin service's own API: its tables are its business, not ours.
  for (const { trainerId, ...body } of chaosTrainers) {
    const res = await fetch(new URL(`/trainers/${trainerId}`, config.ADMIN_SERVICE_URL), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`admin service refused trainer ${trainerId}: ${res.status} ${await res.text()}`);
  }
}

/** The workers bundle their workflows first; the stream starts once each workers process polls every task queue. */
async function waitForPollers(client: Awaited<ReturnType<typeof createTemporalClient>>, pids: Array<number | undefined>): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const polling = await Promise.all(pids.map((pid) => pollEveryTaskQueue(client, config, pid)));
    if (polling.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('the workers did not poll within 3 minutes; see the workers log');
    await sleep(1_000);
  }
}

/** Sends the stream at the configured rate, in order, retrying a batch until Kafka takes it. */
async function produce(records: ChaosRecord[]): Promise<{ sent: number; resent: number; doneAt: number }> {
  const kafka = new Kafka({ clientId: 'chaos-producer', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING });
  let producer: Producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const perBatch = Math.max(1, Math.round(settings.rate / 5));
  const start = Date.now();
  const deadline = start + ((records.length / settings.rate) * 3 + 600) * 1000;
  let resent = 0;
  for (let i = 0; i < records.length; i += perBatch) {
    const batch = records.slice(i, i + perBatch);
    const topicMessages = [...new Set(batch.map((r) => r.topic))].map((topic) => ({
      topic,
      messages: batch.filter((r) => r.topic === topic).map(({ key, value, headers }) => ({ key, value, headers })),
    }));
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.sendBatch({ topicMessages, acks: -1 });
        break;
      } catch (err) {
        // Part of a failed batch may have been written: Kafka then has those records twice, as a
        // producer retry would. The pipeline must take that too.
        resent += batch.length;
        if (Date.now() > deadline) throw new Error(`producing gave up at event ${i}: ${(err as Error).message}`);
        if (attempt === 1) say(`producer: ${(err as Error).message}; retrying until Kafka is back`);
        if (attempt % 5 === 0) {
          await producer.disconnect().catch(() => undefined);
          producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
          await producer.connect().catch(() => undefined);
        }
        await sleep(1_000);
      }
    }
    const due = start + ((i + perBatch) / settings.rate) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  await producer.disconnect().catch(() => undefined);
  return { sent: records.length, resent, doneAt: Date.now() };
}

/**
 * Runs the faults one after another at their times; resolves with when the last one was over and
 * what each one showed. A fault that throws or outlives its timeout was not injected.
 */
async function injectFaults(list: Fault[], streamStart: number): Promise<{ lastFaultEnd: number; faultOutcomes: FaultOutcome[] }> {
  let previousEnd = streamStart;
  const faultOutcomes: FaultOutcome[] = [];
  for (const fault of list) {
    const at = Math.max(streamStart + fault.at * 1000, previousEnd + 5_000);
    if (at > Date.now()) await sleep(at - Date.now());
    say(`fault: ${fault.name}`);
    const timeout = new AbortController();
    const outcome = await Promise.race([
      fault.inject(say),
      sleep(fault.timeoutSeconds * 1000, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`not over after ${fault.timeoutSeconds} s`);
      }),
    ]).then(
      (seen) => ({ name: fault.name, ...seen }),
      (err: unknown) => ({ name: fault.name, injected: false, evidence: `failed: ${(err as Error).message}` }),
    );
    timeout.abort();
    say(`fault ${fault.name}: ${outcome.injected ? 'injected' : 'NOT INJECTED'}: ${outcome.evidence}`);
    faultOutcomes.push(outcome);
    previousEnd = Date.now();
  }
  say('all faults over');
  return { lastFaultEnd: previousEnd, faultOutcomes };
}

interface Drain {
  figures?: Figures;
  /** When the state last changed, counted from the end of the last fault. */
  drainSeconds: number;
  outcome: 'drained' | 'stalled' | 'timed out';
}

/**
 * Polls the final state until it is what the stream implies (drained), or nothing has changed for
 * a while (stalled), or the drain timeout passed. A poll that fails (PostgreSQL or Temporal still
 * coming back) counts as no change.
 */
async function waitUntilDrained(
  sources: Sources,
  tag: string,
  expect: ReturnType<typeof buildStream>['expect'],
  faultOutcomes: FaultOutcome[],
  lastFaultEnd: number,
  outcomes: PrescriptionOutcomes,
  payer: Payer,
): Promise<Drain> {
  const deadline = lastFaultEnd + settings.drainTimeoutSeconds * 1000;
  let lastChange = lastFaultEnd;
  let signature = '';
  let figures: Figures | undefined;
  let lastReport = 0;
  for (;;) {
    try {
      const state = await readState(sources, tag, expect, outcomes);
      figures = evaluate(expect, { ...state, paymentAnswers: payer.answerProblems() }, faultOutcomes);
      if (figures.signature !== signature) {
        signature = figures.signature;
        lastChange = Date.now();
      }
      const outageParked = state.needsAttention.some((w) => w.kind === 'Outage');
      const quietFor = (Date.now() - lastChange) / 1000;
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        say(
          `draining: bookings ${figures.bookingsFound}/${figures.bookingsExpected}, purchases ${figures.purchasesFound}/${figures.purchasesExpected}, ` +
            `prescriptions ended ${figures.prescriptionsEnded}/${figures.prescriptionsExpected}, ` +
            `poison parked ${figures.poisonParked}/${figures.poisonExpected}, payments settled ${figures.paymentsSettled}/${figures.paymentsExpected}, ` +
            `money balanced ${figures.paymentsBalanced}/${figures.paymentsExpected}, needing a person ${state.needsAttention.length}, ` +
            `lost ${figures.lost.length}, wrong ${figures.wrong.length}, consumer lag ${figures.lagTotal}; quiet for ${quietFor.toFixed(0)} s`,
        );
      }
      const drainSeconds = Math.max(0, (lastChange - lastFaultEnd) / 1000);
      if (figures.complete) return { figures, drainSeconds, outcome: 'drained' };
      if (quietFor >= (outageParked ? outageSettleSeconds : settings.settleSeconds)) return { figures, drainSeconds, outcome: 'stalled' };
    } catch (err) {
      say(`poll failed: ${(err as Error).message}`);
    }
    if (Date.now() > deadline) {
      return { figures, drainSeconds: Math.max(0, (lastChange - lastFaultEnd) / 1000), outcome: 'timed out' };
    }
    await sleep(5_000);
  }
}

function report(r: {
  stream: ReturnType<typeof buildStream>;
  produced: { sent: number; resent: number };
  final: Figures;
  twice: string[];
  drain: Drain;
  paid: PayerReport;
}): boolean {
  const { stream, final: f } = r;
  const byTopic: Record<string, number> = {};
  for (const rec of stream.records) byTopic[rec.topic] = (byTopic[rec.topic] ?? 0) + 1;
  const duplicated = [...f.duplicated, ...r.twice.map((id) => `workflow ${id}: more than one run (not counting continue-as-new)`)];
  const { met, missed } = verdict(f, { drain: r.drain.outcome, startedTwice: r.twice });

  const line = (figure: string, value: string, goal = '') => console.log(`${figure.padEnd(36)} ${value}${goal ? `   [goal: ${goal}]` : ''}`);
  const examples = (items: string[]) => {
    for (const item of items.slice(0, 5)) console.log(`${''.padEnd(38)}e.g. ${item}`);
    if (items.length > 5) console.log(`${''.padEnd(38)}... and ${items.length - 5} more`);
  };
  console.log(`\n== Chaos figures: seed ${settings.seed}, ${os.cpus().length} vCPU ${os.cpus()[0]?.model.trim()}, ${new Date().toISOString()} ==`);
  if (poisonLeftOut.length) console.log(`(poison kinds left out by CHAOS_POISON: ${poisonLeftOut.join(', ')})`);
  if (paymentsLeftOut.length) console.log(`(payment kinds left out by CHAOS_PAYMENTS: ${paymentsLeftOut.join(', ')})`);
  line('events sent', `${r.produced.sent} (${Object.entries(byTopic).map(([t, n]) => `${t} ${n}`).join(', ')}; ${f.poisonExpected} poison; ${r.produced.resent} resent after producer errors)`);
  line('rows expected and found', `bookings ${f.bookingsFound}/${f.bookingsExpected}, purchases ${f.purchasesFound}/${f.purchasesExpected}`);
  line(
    'prescriptions ended as expected',
    `${f.prescriptionsEnded}/${f.prescriptionsExpected} (${Object.entries(f.prescriptionsByOutcome).map(([k, [ok, n]]) => `${k} ${ok}/${n}`).join(', ')})`,
    'all',
  );
  line('prescription rows', `${f.prescriptionRows}/${f.prescriptionsExpected} prescriptions with their one row`, 'exactly one each');
  line('prescription audit steps', `${f.prescriptionsAudited}/${f.prescriptionsExpected} with every expected step's row and no other`, 'all');
  line('prescription status and payment', `${f.prescriptionsRecorded}/${f.prescriptionsExpected} rows with the expected status and payment (or none)`, 'all');
  line('prescriptions at the partners', `${f.prescriptionsAtPartners}/${f.prescriptionsExpected} with exactly their pharmacy selection, claim and label`, 'all');
  line('lost', String(f.lost.length), '0');
  examples(f.lost);
  line('duplicated', `${duplicated.length} (rows, runs, stand-in records, events with different IDs for one step)`, '0');
  examples(duplicated);
  line(
    're-emitted (same event ID)',
    f.emittedUnread ? `not known: ${f.emittedUnread}` : `${f.reemitted.length} event IDs more than once, of ${f.emittedEvents} emitted events read`,
    'reported: each copy says what the first said (else wrong)',
  );
  examples(f.reemitted);
  line('wrong', `${f.wrong.length} (status, payment, partner records, rows for poison)`, '0');
  examples(f.wrong);
  line('parked (expected)', `${f.poisonParked} of ${f.poisonExpected} poison records, each with its kind's reason`, 'every poison record');
  console.log(`${''.padEnd(38)}by kind: ${Object.entries(f.poisonByKind).map(([k, v]) => `${k} ${v.parked}/${v.sent}`).join(', ')}`);
  line('parked with the wrong reason', String(f.poisonWrongReason.length), '0');
  examples(f.poisonWrongReason);
  line('parked (unexpected)', String(f.unexpectedParked.length), '0');
  examples(f.unexpectedParked);
  line('runs needing a person', `${f.needingPersonOther.length} (plus ${f.refusalsFound} of ${f.refusalsExpected} expected refusals: no trainer, or a second payment to refund by hand)`, '0 after outages that ended');
  examples(f.needingPersonOther);
  line('consumer lag at the end', `${f.lagTotal} records behind on ${f.lag.length} partitions of the bridges' groups`, '0 on every group');
  examples(f.lag);
  const retried = Object.entries(r.paid.retriedBecause).map(([why, n]) => `${why} ${n}`).join(', ') || 'none';
  line(
    'payments sent to the payment API',
    `${r.paid.sent}/${f.paymentsExpected} sent, ${r.paid.accepted} answered 202, in ${r.paid.requests} requests (same-key copies and retries; retried: ${retried})`,
    'all',
  );
  examples(r.paid.unsent.map((p) => `never sent: ${p}`));
  line('payments as the story expects', `${f.paymentsAsExpected}/${f.paymentsExpected} (${Object.entries(f.paymentsByStory).map(([k, [ok, n]]) => `${k} ${ok}/${n}`).join(', ')})`, 'all');
  examples(f.paymentExpectations);
  line('double charges', String(f.doubleCharges.length), '0');
  examples(f.doubleCharges);
  line('ledger as the card processor has it', `${f.paymentsSettled}/${f.paymentsExpected} settled and agreeing (${f.ledgerProblems.length} problems)`, 'all');
  examples(f.ledgerProblems);
  line('charged − refunded = delivered', `${f.paymentsBalanced}/${f.paymentsExpected} payments`, 'all');
  examples(f.moneyUnbalanced);
  line('faults injected', `${f.faults.length - f.faultsNotInjected.length}/${f.faults.length}`, 'all, each with its evidence');
  for (const fault of f.faults) console.log(`${''.padEnd(38)}${fault.injected ? 'yes' : 'NO '} ${fault.name}: ${fault.evidence}`);
  line('time to drain after the last fault', `${r.drain.drainSeconds.toFixed(0)} s (${r.drain.outcome})`, 'drained');
  line('process restarts', [workers, bridges, secondBridges, replicas.workers, replicas.bridges].map((c) => `${c.name} ${c.restarts} (${c.crashes} crashes)`).join(', '));
  console.log(met ? 'GOAL MET' : `GOAL NOT MET (missed: ${missed.join('; ')})`);
  return met;
}

void main()
  .catch((err) => {
    say(`failed: ${(err as Error).stack ?? err}`);
    return 2;
  })
  .then(async (code) => {
    await stopChildren();
    process.exit(code);
  });
