/**
 * The processes a chaos run owns and breaks, and the faults it injects: the workers and bridges
 * (children of this process, restarted like a supervisor would when they die; a second bridges
 * process joins halfway; with the replicas fault a second workers and bridges process run throughout), the isolated stack's Temporal dev server, Kafka, PostgreSQL, partner
 * stand-ins, payment provider, payment API and codec server (started by scripts/stack.sh with this
 * run's STACK_STATE_DIR and ports), and the payload key ring in that state directory.
 *
 * A fault proves itself: it resolves with what it saw (the old pid gone and a new one serving, a
 * connection refused, a lock in pg_locks, calls the stand-in held back, the new key ID in a raw
 * history), and `injected: false` when it could not see it.
 *
 * A stack process is only ever killed by the pid in this run's own pid file, after checking that
 * its command line (a server's) or environment (a node process's) names this run's state
 * directory, so the shared stack can never be hit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Kafka, logLevel, Partitioners, type Admin, type GroupDescription } from 'kafkajs';
import { Client as PgClient } from 'pg';
import { EncryptionCodec, ENCRYPTED_ENCODING, METADATA_ENCRYPTION_KEY_ID } from '../../src/codec/encryption-codec';
import { readKeyRing } from '../../src/codec/key-ring';
import type { Config } from '../../src/config';
import { kafkaConnectionOptions, postgresConnectionOptions } from '../../src/connection-options';
import { bookingEventsTopic, bookingWorkflowId } from '../../src/contracts/booking';
import { toJson } from '../../src/codec-server/server';
import { bridgedPipelines, pipelines } from '../../src/pipelines';
import type { FaultOutcome } from './check';

export const repoDir = path.resolve(__dirname, '..', '..');

function stateDir(): string {
  const dir = process.env.STACK_STATE_DIR;
  // Without it the stack scripts would act on the shared stack's default state directory.
  if (!dir) throw new Error('STACK_STATE_DIR is not set; run the chaos test with `npm run chaos`');
  return dir;
}

const elapsed = (startMs: number) => `${((Date.now() - startMs) / 1000).toFixed(1)}s`;

export type Say = (line: string) => void;

/** A worker or bridge process, restarted whenever it exits (killed on purpose or crashed). */
export class Supervised {
  private child?: ChildProcess;
  private stopping = false;
  private killedOnPurpose = false;
  /** How long after an exit the process is started again: 2 s, as npm start does, unless a fault holds it down longer. */
  private restartAfterMs = 2_000;
  /** Exits nobody asked for: a crash the harness had to restart. */
  crashes = 0;
  /**
   * A lower CPU priority than the processes beside it (0: the same): started under `nice -n` this,
   * in a session of its own whose autogroup gets the same nice. With the kernel's autogroups on
   * (sched_autogroup_enabled), the scheduler shares the CPU between sessions first, so a process's
   * own nice only ranks it within its session.
   */
  niceness = 0;
  /** Node's own flags before the entry (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
  nodeArgs: string[] = [];
  restarts = 0;

  constructor(
    readonly name: string,
    readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly say: Say,
    /** The pid file is run/<prefix>-<name>.pid; the run's cleanup finds leftovers by it. */
    private readonly pidPrefix = 'chaos',
  ) {}

  private get pidFile(): string {
    return path.join(stateDir(), 'run', `${this.pidPrefix}-${this.name}.pid`);
  }

  /** The running process, if any. */
  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  start(): void {
    const log = openSync(path.join(stateDir(), 'logs', `${this.name}.log`), 'a');
    // node itself rather than npx, so the pid is the process doing the work (as scripts/start.sh does).
    // A compiled entry (dist/, as npm start and the image run it) needs no TypeScript loader.
    const node = [process.execPath, ...this.nodeArgs, ...(this.entry.endsWith('.js') ? [] : ['--import', 'tsx']), this.entry];
    // nice execs node, so the pid is still the process doing the work.
    const [command, ...args] = this.niceness === 0 ? node : ['nice', '-n', String(this.niceness), ...node];
    const child = spawn(command!, args, {
      cwd: repoDir,
      // Its own Kafka client ID, so a consumer group's members say which process each is.
      env: { ...this.env, SERVICE_NAME: this.name, KAFKA_CLIENT_ID: `chaos-${this.name}` },
      stdio: ['ignore', log, log],
      detached: this.niceness !== 0,
    });
    closeSync(log);
    if (this.niceness !== 0 && child.pid !== undefined) setAutogroupNice(child.pid, this.niceness);
    this.child = child;
    writeFileSync(this.pidFile, `${child.pid}\n`);
    child.once('exit', (code, signal) => {
      if (this.child !== child || this.stopping) return;
      if (!this.killedOnPurpose) {
        this.crashes++;
        this.say(`${this.name} exited by itself (code ${code}, signal ${signal}); restarting it`);
      }
      this.killedOnPurpose = false;
      this.restarts++;
      const after = this.restartAfterMs;
      this.restartAfterMs = 2_000;
      setTimeout(() => this.stopping || this.start(), after);
    });
  }

  /** SIGKILL; the exit handler starts it again after `restartAfterMs`. Resolves with the killed pid once it has exited. */
  async kill9(restartAfterMs = 2_000): Promise<number> {
    this.restartAfterMs = restartAfterMs;
    return this.end('SIGKILL');
  }

  /** The Kafka client ID its bridges join their groups with (src/bridges/main.ts). */
  get bridgeClientId(): string {
    return `chaos-${this.name}-bridge`;
  }

  /**
   * One step of a rolling restart: SIGTERM, so the process stops as a deployment would stop it
   * (SIGKILL if it has not exited after 20 s), and the exit handler starts it again. Resolves with
   * the stopped pid once it has exited.
   */
  async restart(): Promise<number> {
    return this.end('SIGTERM');
  }

  private async end(signal: NodeJS.Signals): Promise<number> {
    const child = this.child;
    const pid = this.pid;
    if (!child || pid === undefined) throw new Error(`${this.name} is not running`);
    this.killedOnPurpose = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    return pid;
  }

  /** Resolves with the pid of a process started after `oldPid`'s, once there is one. */
  async successorOf(oldPid: number, timeoutMs = 60_000): Promise<number> {
    return waitFor(`a new ${this.name} process`, timeoutMs, async () => {
      const pid = this.pid;
      return pid !== undefined && pid !== oldPid ? pid : undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    rmSync(this.pidFile, { force: true });
  }
}

/** Runs a command with this run's stack environment; resolves with its exit code and what it printed. */
async function run(command: string, args: string[], logName: string): Promise<{ code: number; output: string }> {
  const log = openSync(path.join(stateDir(), 'logs', logName), 'a');
  const child = spawn(command, args, { cwd: repoDir, env: process.env, stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  appendFileSync(path.join(stateDir(), 'logs', logName), output);
  return { code, output };
}

/** `bash scripts/stack.sh up` with this run's environment: starts whatever is down, waits until healthy. */
export async function stackUp(): Promise<void> {
  const { code } = await run('bash', ['scripts/stack.sh', 'up'], 'chaos-stack-up.log');
  if (code !== 0) throw new Error(`scripts/stack.sh up failed (exit ${code}); see ${path.join(stateDir(), 'logs', 'chaos-stack-up.log')}`);
}

/** One component's function from the stack scripts (e.g. postgres_down), as scripts/bench.sh does for temporal. */
async function stackComponent(component: 'postgres', action: 'down' | 'up'): Promise<void> {
  const script = `source scripts/stack/lib.sh && source scripts/stack/${component}.sh && ensure_dirs && STACK_COMPONENT=${component} ${component}_${action}`;
  const { code } = await run('bash', ['-c', script], 'chaos-stack-up.log');
  if (code !== 0) throw new Error(`${component}_${action} failed (exit ${code})`);
}

/** A node process of the stack (the codec server, a stand-in, the payment API) stopped or started by its own script. */
async function nodeService(action: 'down' | 'up', name: string): Promise<void> {
  const { code } = await run('bash', ['scripts/stack/node-service.sh', action, name], 'chaos-stack-up.log');
  if (code !== 0) throw new Error(`node-service.sh ${action} ${name} failed (exit ${code})`);
}

async function restartNodeService(name: string): Promise<void> {
  await nodeService('down', name);
  await nodeService('up', name);
}

const stackPid = (pidName: string): number | undefined => {
  try {
    return Number(readFileSync(path.join(stateDir(), 'run', `${pidName}.pid`), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
};

/** Whether a process with this pid exists: kill(pid, 0) checks without sending anything. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `check` until it returns a value; rejects, naming `what`, after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = `; last error: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s${lastError}`);
    await sleep(everyMs);
  }
}

/**
 * SIGKILLs the stack process in `$STACK_STATE_DIR/run/<name>.pid`, refusing unless its command
 * line contains `mustContain` (this run's own paths or port). A node process's command line is
 * only its entry file, the same in every stack: its environment names the state directory instead.
 */
function killStackProcess(pidName: string, mustContain: string, where: 'cmdline' | 'environ' = 'cmdline'): number {
  const pid = stackPid(pidName);
  if (!pid) throw new Error(`no pid in run/${pidName}.pid`);
  const text = readFileSync(`/proc/${pid}/${where}`, 'utf8').split('\0');
  if (!(where === 'cmdline' ? text.join(' ').includes(mustContain) : text.includes(mustContain))) {
    throw new Error(`refusing to kill pid ${pid}: its ${where === 'cmdline' ? 'command line' : 'environment'} does not name ${mustContain}`);
  }
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** What a fault reports: whether it happened, and what was seen that shows it. */
export type Injected = Omit<FaultOutcome, 'name'>;

export interface Fault {
  /** Its entry in the schedule, and its name in CHAOS_FAULTS. */
  key: keyof FaultSchedule;
  name: string;
  /** Seconds after the stream started. */
  at: number;
  /** How long breaking it and seeing it back may take before it counts as not injected. */
  timeoutSeconds: number;
  /**
   * Breaks something and brings it back; resolves once it is back, with what was observed: a fault
   * that could not be seen to happen (and to end) is `injected: false`, and the run fails.
   */
  inject(say: Say): Promise<Injected>;
}

/**
 * The chaos process's own payload codec, reading the key ring again on `reload()`: after a key
 * rotation the results the workers write under the new key must still decode here (the checker
 * reads every prescription's result), and the client that holds this codec lives through the run.
 */
export class ReloadableCodec implements PayloadCodec {
  private codec: EncryptionCodec;

  constructor(private readonly ringFile: string) {
    this.codec = new EncryptionCodec(readKeyRing(ringFile));
  }

  reload(): void {
    this.codec = new EncryptionCodec(readKeyRing(this.ringFile));
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return this.codec.encode(payloads);
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return this.codec.decode(payloads);
  }
}

export interface FaultSchedule {
  paymentApi: number;
  paymentProvider: number;
  providerOutage: number;
  providerSlow: number;
  worker: number;
  bridge: number;
  temporal: number;
  kafka: number;
  postgres: number;
  tableLock: number;
  slowPartner: number;
  secondBridge: number;
  replicas: number;
  keyRotation: number;
}

export interface FaultOptions {
  config: Config;
  /** The run's Temporal client (its codec is `codec`). */
  client: Client;
  codec: ReloadableCodec;
  workers: Supervised;
  bridges: Supervised;
  /** A second bridges process, started by the two-bridges fault and left running. */
  secondBridges: Supervised;
  /**
   * A second workers and a second bridges process, started with the first ones when the replicas
   * fault is in the run (main.ts) and running to its end, as a platform's replicas would.
   */
  replicas: { workers: Supervised; bridges: Supervised };
  postgresStopSeconds: number;
  tableLockSeconds: number;
  slowPartnerSeconds: number;
  providerOutageSeconds: number;
  providerSlowSeconds: number;
  schedule: FaultSchedule;
}

/**
 * Whether every pipeline's workflow task queue has a poller (one of process `pid`'s, when given:
 * the SDK's identity is `<pid>@<host>`). A failed call counts as no.
 */
export async function pollEveryTaskQueue(client: Client, config: Pick<Config, 'TEMPORAL_NAMESPACE'>, pid?: number): Promise<boolean> {
  const polled = await Promise.all(
    pipelines.map(({ taskQueue }) =>
      client.workflowService
        .describeTaskQueue({ namespace: config.TEMPORAL_NAMESPACE, taskQueue: { name: taskQueue }, taskQueueType: 1 })
        .then((r) => r.pollers.some((p) => pid === undefined || p.identity?.startsWith(`${pid}@`)))
        .catch(() => false),
    ),
  );
  return polled.every(Boolean);
}
const consumerGroups = bridgedPipelines(pipelines).map((p) => p.bridge.consumerGroup);
const lockedTable = 'prescriptions';
/** The partner made slow: every prescription calls it first (eligibility), so it sees traffic. */
const slowPartner = 'insurer';

export function faults(options: FaultOptions): Fault[] {
  const { config, client, workers, bridges, secondBridges, replicas, schedule } = options;

  /** Resolves once a process with this pid polls every task queue (the SDK's identity is `<pid>@<host>`). */
  const pollingAs = (pid: number) =>
    waitFor(`worker pid ${pid} polling every task queue`, 180_000, async () => ((await pollEveryTaskQueue(client, config, pid)) ? true : undefined), 1_000);

  const kafkaAdmin = async <T>(work: (admin: Admin) => Promise<T>): Promise<T> => {
    const admin = new Kafka({ clientId: 'chaos-faults', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  const groupsText = (groups: GroupDescription[]) => groups.map((g) => `${g.groupId} ${g.state} ${g.members.length}`).join(', ');

  /** Rows the pipelines have written (bookings, purchases, prescriptions): grows while their runs make progress. */
  const pipelineRows = async (): Promise<number> => {
    const pg = new PgClient({ connectionString: config.DATABASE_URL, connectionTimeoutMillis: 5_000 });
    await pg.connect();
    try {
      const { rows } = await pg.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM student_course_purchases) + (SELECT count(*) FROM prescriptions) AS n`,
      );
      return Number(rows[0]!.n);
    } finally {
      await pg.end().catch(() => undefined);
    }
  };

  /** A connection attempt: undefined when it worked, else why not. */
  const connectFails = async (): Promise<string | undefined> => {
    const pg = new PgClient({ ...postgresConnectionOptions(config), connectionTimeoutMillis: 5_000 });
    try {
      await pg.connect();
      await pg.query('SELECT 1');
      return undefined;
    } catch (err) {
      return (err as Error).message || (err as NodeJS.ErrnoException).code || String(err);
    } finally {
      await pg.end().catch(() => undefined);
    }
  };

  const killSupervised = (supervised: Supervised, pollers: boolean) => async (say: Say): Promise<Injected> => {
    const old = await supervised.kill9();
    say(`${supervised.name} killed (SIGKILL, pid ${old}); restarted in 2 s`);
    const fresh = await supervised.successorOf(old);
    if (pollers) await pollingAs(fresh);
    return {
      injected: !alive(old),
      evidence: `pid ${old} ${alive(old) ? 'STILL RUNS' : 'gone'}; pid ${fresh} running${pollers ? ', polling every task queue' : ''}`,
    };
  };

  /** SIGKILL a stack server by its pid file, `scripts/stack.sh up`, and see a new pid serving. */
  const killStackServer = (name: 'temporal' | 'kafka', what: string, serving: () => Promise<string>) => async (say: Say): Promise<Injected> => {
    const start = Date.now();
    const old = killStackProcess(name, path.join(stateDir(), name));
    say(`${what} killed (SIGKILL, pid ${old})`);
    await waitFor(`${what} pid ${old} gone`, 10_000, async () => (alive(old) ? undefined : true), 100);
    await stackUp();
    const fresh = stackPid(name);
    const answer = await waitFor(`${what} answering`, 60_000, serving, 1_000);
    say(`${what} back after ${elapsed(start)} (scripts/stack.sh up)`);
    return {
      injected: fresh !== undefined && fresh !== old && alive(fresh) && !alive(old),
      evidence: `pid ${old} dead; pid ${fresh} ${fresh && alive(fresh) ? 'running' : 'NOT RUNNING'}, ${answer}`,
    };
  };

  /**
   * SIGKILL a node process of the stack by its pid file; it stays down a few seconds (its clients
   * meet a closed port), then `node-service.sh up` starts it, and a new pid must answer its health check.
   */
  const killNodeService = (name: 'payment-api' | 'payment-provider', baseUrl: string) => async (say: Say): Promise<Injected> => {
    const start = Date.now();
    const old = killStackProcess(name, `STACK_STATE_DIR=${stateDir()}`, 'environ');
    say(`${name} killed (SIGKILL, pid ${old})`);
    await waitFor(`${name} pid ${old} gone`, 10_000, async () => (alive(old) ? undefined : true), 100);
    await sleep(5_000);
    await nodeService('up', name);
    const fresh = stackPid(name);
    const health = await waitFor(`${name} answering`, 60_000, async () => {
      const res = await fetch(new URL('/health', baseUrl), { signal: AbortSignal.timeout(5_000) });
      return res.ok ? res.status : undefined;
    }, 1_000);
    say(`${name} back after ${elapsed(start)} (node-service.sh up)`);
    return {
      injected: fresh !== undefined && fresh !== old && alive(fresh) && !alive(old),
      evidence: `pid ${old} dead; pid ${fresh} ${fresh && alive(fresh) ? 'running' : 'NOT RUNNING'}, /health answered ${health} ${elapsed(start)} after the kill`,
    };
  };

  const list: Fault[] = [
    {
      key: 'paymentApi',
      name: 'SIGKILL payment API',
      at: schedule.paymentApi,
      timeoutSeconds: 120,
      inject: killNodeService('payment-api', config.PAYMENT_API_URL),
    },
    {
      key: 'paymentProvider',
      name: 'SIGKILL payment provider',
      at: schedule.paymentProvider,
      timeoutSeconds: 120,
      inject: killNodeService('payment-provider', config.PAYMENT_PROVIDER_URL),
    },
    {
      key: 'providerOutage',
      name: `payment provider down (every request 503) for ${options.providerOutageSeconds} s`,
      at: schedule.providerOutage,
      timeoutSeconds: options.providerOutageSeconds + 60,
      inject: (say) => providerOutage(config, options.providerOutageSeconds, say),
    },
    {
      key: 'providerSlow',
      name: `payment provider slower than the call timeout for ${options.providerSlowSeconds} s`,
      at: schedule.providerSlow,
      timeoutSeconds: options.providerSlowSeconds + 60,
      inject: (say) => slowProvider(config, options.providerSlowSeconds, say),
    },
    {
      key: 'worker',
      name: 'SIGKILL worker',
      at: schedule.worker,
      timeoutSeconds: 300,
      inject: killSupervised(workers, true),
    },
    {
      key: 'bridge',
      name: 'SIGKILL bridge',
      at: schedule.bridge,
      timeoutSeconds: 120,
      inject: killSupervised(bridges, false),
    },
    {
      key: 'temporal',
      name: 'SIGKILL Temporal',
      at: schedule.temporal,
      timeoutSeconds: 300,
      inject: killStackServer('temporal', 'Temporal dev server', async () => {
        const info = await client.workflowService.getSystemInfo({});
        return `answers (server ${info.serverVersion})`;
      }),
    },
    {
      key: 'kafka',
      name: 'SIGKILL Kafka',
      at: schedule.kafka,
      timeoutSeconds: 300,
      inject: killStackServer('kafka', 'Kafka', async () => {
        const cluster = await kafkaAdmin((admin) => admin.describeCluster());
        return `answers (${cluster.brokers.length} broker, controller ${cluster.controller})`;
      }),
    },
    {
      key: 'postgres',
      name: `stop PostgreSQL ${options.postgresStopSeconds} s`,
      at: schedule.postgres,
      timeoutSeconds: options.postgresStopSeconds + 180,
      inject: async (say) => {
        const start = Date.now();
        await stackComponent('postgres', 'down');
        say(`PostgreSQL stopped (pg_ctl stop -m fast) for ${options.postgresStopSeconds} s`);
        const refused = await connectFails();
        await sleep(Math.max(0, options.postgresStopSeconds * 1000 - (Date.now() - start)));
        await stackComponent('postgres', 'up');
        const after = await connectFails();
        say(`PostgreSQL back after ${elapsed(start)}`);
        return {
          injected: refused !== undefined && after === undefined,
          evidence: `a connection during the stop ${refused ? `failed (${refused})` : 'WORKED'}; one after it ${after ? `FAILED (${after})` : 'worked'}`,
        };
      },
    },
    {
      key: 'tableLock',
      name: `lock table ${lockedTable} ${options.tableLockSeconds} s`,
      at: schedule.tableLock,
      timeoutSeconds: options.tableLockSeconds + 120,
      inject: (say) => holdTableLock(config, options.tableLockSeconds, say),
    },
    {
      key: 'slowPartner',
      name: `${slowPartner} slower than the call timeout for ${options.slowPartnerSeconds} s`,
      at: schedule.slowPartner,
      timeoutSeconds: options.slowPartnerSeconds + 60,
      inject: (say) => slowDownPartner(config, options.slowPartnerSeconds, say),
    },
    {
      key: 'secondBridge',
      name: 'two bridges, one SIGKILLed during a rebalance',
      at: schedule.secondBridge,
      timeoutSeconds: 300,
      inject: (say) => kafkaAdmin(async (admin) => {
        const describe = () => admin.describeGroups(consumerGroups).then((d) => d.groups);
        // Settled first (an earlier fault's restarts may still be rebalancing), so that the
        // rebalance caught below is the newcomer's.
        const before = await waitFor('every bridge group Stable', 180_000, async () => {
          const groups = await describe();
          return groups.every((g) => g.state === 'Stable') ? groups : undefined;
        }, 1_000);
        const known = new Set(before.flatMap((g) => g.members.map((m) => m.memberId)));
        secondBridges.start();
        say(`second bridges process started (pid ${secondBridges.pid}); waiting for it to join the consumer groups`);
        // The kill must land while a group rebalances because the newcomer joined: its join holds
        // the group in PreparingRebalance until the old member has rejoined (a fetch or a batch).
        let last = before;
        const joined = (g: GroupDescription) => g.members.some((m) => !known.has(m.memberId));
        const seen = await waitFor('a bridge group rebalancing with the second process in it', 120_000, async () => {
          last = await describe();
          return last.find((g) => joined(g) && (g.state === 'PreparingRebalance' || g.state === 'CompletingRebalance')) ??
            (last.every((g) => joined(g) && g.state === 'Stable') ? last[0] : undefined);
        }, 100);
        const killed = await secondBridges.kill9();
        const rebalancing = seen.state !== 'Stable';
        const dead = new Set(last.flatMap((g) => g.members.map((m) => m.memberId)).filter((id) => !known.has(id)));
        say(`second bridges process killed (SIGKILL, pid ${killed}) with ${seen.groupId} ${seen.state}, ${seen.members.length} members`);
        const fresh = await secondBridges.successorOf(killed);
        // The dead member stays in its groups until its session times out (30 s), or mid-rebalance
        // the rebalance timeout (60 s); the restarted process joins in the meantime.
        // One member more than before: two, or three with the replicas fault's second process.
        const membersBefore = (groupId: string) => before.find((g) => g.groupId === groupId)?.members.length ?? 1;
        const after = await waitFor('every bridge group Stable with one live member more', 240_000, async () => {
          const groups = await describe();
          const settled = groups.every((g) => g.state === 'Stable' && g.members.length === membersBefore(g.groupId) + 1 && g.members.every((m) => !dead.has(m.memberId)));
          return settled ? groups : undefined;
        }, 1_000);
        return {
          injected: rebalancing && !alive(killed) && alive(fresh),
          evidence:
            `groups before: ${groupsText(before)}; at the kill of pid ${killed}: ${seen.groupId} ${seen.state} with ${seen.members.length} members` +
            `${rebalancing ? '' : ' (NO REBALANCE CAUGHT)'}; after, without its ${dead.size} members: ${groupsText(after)} (pids ${bridges.pid} and ${fresh})`,
        };
      }),
    },
    {
      key: 'replicas',
      name: 'two workers and two bridges, one of each SIGKILLed mid-stream',
      at: schedule.replicas,
      timeoutSeconds: 420,
      inject: (say) => kafkaAdmin(async (admin) => {
        const describe = () => admin.describeGroups(consumerGroups).then((d) => d.groups);
        const hasMember = (g: GroupDescription, s: Supervised) => g.members.some((m) => m.clientId === s.bridgeClientId);
        // Both of each at work: each worker polls every task queue, each bridge is in every group.
        for (const each of [workers, replicas.workers]) {
          if (each.pid === undefined) throw new Error(`${each.name} is not running (the replicas fault starts it with the run)`);
          await pollingAs(each.pid);
        }
        const before = await waitFor('every bridge group Stable with both bridges processes', 180_000, async () => {
          const groups = await describe();
          return groups.every((g) => g.state === 'Stable' && hasMember(g, bridges) && hasMember(g, replicas.bridges)) ? groups : undefined;
        }, 1_000);
        const rowsAtKill = await pipelineRows();
        // Held down past the group's session timeout (30 s), so the survivors alone must take over.
        const downMs = 60_000;
        const [deadWorker, deadBridge] = await Promise.all([workers.kill9(downMs), bridges.kill9(downMs)]);
        const killedAt = Date.now();
        say(`${workers.name} (pid ${deadWorker}) and ${bridges.name} (pid ${deadBridge}) killed (SIGKILL); ${replicas.workers.name} and ${replicas.bridges.name} carry on alone for ${downMs / 1000} s`);
        const alone = await waitFor(`every bridge group Stable with ${replicas.bridges.name} and without the dead process`, downMs, async () => {
          const groups = await describe();
          return groups.every((g) => g.state === 'Stable' && hasMember(g, replicas.bridges) && !hasMember(g, bridges)) ? groups : undefined;
        }, 1_000);
        const takeoverS = (Date.now() - killedAt) / 1000;
        const freshWorker = await workers.successorOf(deadWorker, downMs + 30_000);
        const rowsAlone = (await pipelineRows()) - rowsAtKill;
        const freshBridge = await bridges.successorOf(deadBridge, 30_000);
        await pollingAs(freshWorker);
        const after = await waitFor('every bridge group Stable with both bridges processes again', 180_000, async () => {
          const groups = await describe();
          return groups.every((g) => g.state === 'Stable' && hasMember(g, bridges) && hasMember(g, replicas.bridges)) ? groups : undefined;
        }, 1_000);
        return {
          // The rows are reported, not required: in a quick run the stream may be over by then.
          injected: !alive(deadWorker) && !alive(deadBridge),
          evidence:
            `groups before: ${groupsText(before)}; pids ${deadWorker} (worker) and ${deadBridge} (bridge) ${alive(deadWorker) || alive(deadBridge) ? 'NOT ALL DEAD' : 'dead'}; ` +
            `${takeoverS.toFixed(0)} s later every group was Stable with ${replicas.bridges.name} and without the dead one (${groupsText(alone)}); ` +
            `${rowsAlone} rows written while only ${replicas.workers.name} (pid ${replicas.workers.pid}) and ${replicas.bridges.name} (pid ${replicas.bridges.pid}) ran` +
            `${rowsAlone > 0 ? '' : ' (none: the stream had drained)'}; then pids ${freshWorker} and ${freshBridge} back, ${groupsText(after)}`,
        };
      }),
    },
    {
      key: 'keyRotation',
      name: 'payload key rotation (stage, roll, promote, roll)',
      at: schedule.keyRotation,
      timeoutSeconds: 600,
      inject: async (say) => {
        const ringFile = config.PAYLOAD_KEY_RING_FILE;
        const before = readKeyRing(ringFile);
        const stage = await run('node', ['--import', 'tsx', 'scripts/payload-keys.ts', 'add'], 'chaos-key-rotation.log');
        if (stage.code !== 0) throw new Error(`rotate stage failed (exit ${stage.code})`);
        const newKeyId = [...readKeyRing(ringFile).keys.keys()].find((id) => !before.keys.has(id));
        if (!newKeyId) throw new Error('rotate stage added no key to the ring');
        options.codec.reload();
        say(`key ${newKeyId} staged (current still ${before.currentKeyId}); rolling restart`);
        const firstRoll = await rollingRestart(say);
        const promote = await run('node', ['--import', 'tsx', 'scripts/payload-keys.ts', 'promote', newKeyId], 'chaos-key-rotation.log');
        if (promote.code !== 0) throw new Error(`rotate promote failed (exit ${promote.code})`);
        options.codec.reload();
        const promotedAt = Date.now();
        say(`key ${newKeyId} promoted; rolling restart`);
        const secondRoll = await rollingRestart(say);
        const probe = await probeNewKey(newKeyId, promotedAt, say);
        return {
          injected: probe.injected,
          evidence: `staged ${newKeyId} (was ${before.currentKeyId}); roll 1: ${firstRoll}; promoted; roll 2: ${secondRoll}; ${probe.evidence}`,
        };
      },
    },
  ];

  /**
   * Workers, bridges and codec server restarted one at a time: the next is stopped once the one
   * before runs again (a worker once it polls; a bridge once its new process runs, not yet joined).
   */
  async function rollingRestart(say: Say): Promise<string> {
    const steps: string[] = [];
    for (const each of [workers, replicas.workers]) {
      if (each.pid === undefined) continue;
      const oldWorker = await each.restart();
      const worker = await each.successorOf(oldWorker);
      await pollingAs(worker);
      steps.push(`${each.name} ${oldWorker}→${worker}`);
    }
    for (const bridge of [bridges, secondBridges, replicas.bridges]) {
      if (bridge.pid === undefined) continue;
      const old = await bridge.restart();
      steps.push(`${bridge.name} ${old}→${await bridge.successorOf(old)}`);
    }
    const oldCodec = stackPid('codec-server');
    await restartNodeService('codec-server');
    steps.push(`codec-server ${oldCodec}→${stackPid('codec-server')}`);
    say(`rolled: ${steps.join(', ')}`);
    return steps.join(', ');
  }

  /**
   * One booking sent after the promote, outside the run's tag (the checker never counts it), in
   * 2040 so it can never take a room from the stream's bookings: its run's start input must be
   * encrypted with the new key (the bridge) and so must its first activity results (the worker; a
   * local activity's is in its marker), read from the raw history with no codec; and the
   * restarted codec server must decode that input.
   */
  async function probeNewKey(newKeyId: string, promotedAt: number, say: Say): Promise<Injected> {
    const bookingId = `keyprobe_${newKeyId.replace(/\W/g, '_')}`;
    const event = {
      bookingId,
      userId: 'chaos_user_0',
      roomId: 'chaos_room_0',
      guests: 1,
      startDate: '2040-01-01T00:00:00.000Z',
      endDate: '2040-01-02T00:00:00.000Z',
      paymentId: `pay_${bookingId}`,
    };
    const producer = new Kafka({ clientId: 'chaos-key-probe', ...kafkaConnectionOptions(config), logLevel: logLevel.NOTHING }).producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      await producer.send({ topic: bookingEventsTopic, acks: -1, messages: [{ key: bookingId, value: JSON.stringify(event), headers: { 'correlation-id': `chaos-keyprobe-${bookingId}` } }] });
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
    const workflowId = bookingWorkflowId(bookingId);
    const keyIdOf = (p: { metadata?: Record<string, Uint8Array> | null } | null | undefined) => {
      const id = p?.metadata?.[METADATA_ENCRYPTION_KEY_ID];
      return id ? Buffer.from(id).toString('utf8') : '(none)';
    };
    const { started, input, results } = await waitFor(`probe run ${workflowId} with a result from the worker`, 120_000, async () => {
      const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace: config.TEMPORAL_NAMESPACE, execution: { workflowId } });
      const events = history?.events ?? [];
      const start = events[0];
      // What the worker wrote: activity results, and local activities' results in their markers.
      const results = events.flatMap((e) => [
        ...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? []),
        ...(e.markerRecordedEventAttributes?.details?.result?.payloads ?? []),
      ]);
      if (!start?.workflowExecutionStartedEventAttributes || !results.length) return undefined;
      return {
        started: Number(start.eventTime?.seconds ?? 0) * 1000,
        input: start.workflowExecutionStartedEventAttributes.input?.payloads?.[0],
        results,
      };
    }, 1_000);
    const inputKey = keyIdOf(input);
    const resultKeys = [...new Set(results.map(keyIdOf))];
    const decoded = await decodeWithCodecServer(config, input);
    say(`probe ${workflowId}: input under ${inputKey}, the worker's results under ${resultKeys.join(', ')}; codec server: ${decoded}`);
    return {
      injected: started >= promotedAt - 1_000 && inputKey === newKeyId && resultKeys.every((k) => k === newKeyId) && decoded === 'decoded',
      evidence: `${workflowId}, started ${((started - promotedAt) / 1000).toFixed(0)} s after the promote: input encrypted with ${inputKey}, the worker's ${results.length} results so far with ${resultKeys.join(', ')}; the restarted codec server ${decoded} its input`,
    };
  }

  return list.sort((a, b) => a.at - b.at);
}

/** What the stack's codec server makes of one raw payload, asked as the Web UI would. */
async function decodeWithCodecServer(config: Config, payload: Payload | null | undefined): Promise<string> {
  if (!payload) return 'had no payload for';
  const credential = readFileSync(config.CODEC_OPERATOR_CREDENTIAL_FILE, 'utf8').trim();
  const body = { payloads: [toJson(payload)] };
  const res = await fetch(new URL('/decode', config.CODEC_SERVER_URL), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) return `answered ${res.status} to`;
  const { payloads } = (await res.json()) as { payloads: Array<{ metadata?: Record<string, string> }> };
  const encoding = Buffer.from(payloads[0]?.metadata?.encoding ?? '', 'base64').toString('utf8');
  return encoding && encoding !== ENCRYPTED_ENCODING ? 'decoded' : 'did not decode';
}

/**
 * `BEGIN; LOCK TABLE prescriptions IN ACCESS EXCLUSIVE MODE`, held from a connection of its own,
 * then rolled back. The pools' lock_timeout (2 s) makes every prescription step fail and retry
 * meanwhile; the other pipelines' tables are not touched and their runs must go on.
 */
async function holdTableLock(config: Config, seconds: number, say: Say): Promise<Injected> {
  // Not from createPool: its idle-in-transaction timeout would end the holder after 8 s.
  const holder = new PgClient({ ...postgresConnectionOptions(config), connectionTimeoutMillis: 5_000, application_name: 'chaos-table-lock' });
  const granted = async (pid: number) => {
    const observer = new PgClient({ ...postgresConnectionOptions(config), connectionTimeoutMillis: 5_000 });
    await observer.connect();
    try {
      const { rows } = await observer.query<{ granted: boolean; waiting: string }>(
        `SELECT bool_or(granted AND pid = $1 AND mode = 'AccessExclusiveLock') AS granted,
                count(*) FILTER (WHERE NOT granted) AS waiting
           FROM pg_locks WHERE locktype = 'relation' AND relation = $2::regclass`,
        [pid, lockedTable],
      );
      return { granted: rows[0]?.granted === true, waiting: Number(rows[0]?.waiting ?? 0) };
    } finally {
      await observer.end().catch(() => undefined);
    }
  };
  await holder.connect();
  try {
    await holder.query(`SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; SET lock_timeout = '30s'`);
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]!.pid;
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${lockedTable} IN ACCESS EXCLUSIVE MODE`);
    const atStart = await granted(pid);
    say(`${lockedTable} locked (ACCESS EXCLUSIVE) by backend ${pid} for ${seconds} s`);
    await sleep(seconds * 1000);
    const atEnd = await granted(pid);
    await holder.query('ROLLBACK');
    say(`${lockedTable} lock released`);
    return {
      injected: atStart.granted && atEnd.granted,
      evidence:
        `pg_locks: AccessExclusiveLock on ${lockedTable} granted to backend ${pid} ${atStart.granted ? 'at the start' : 'NOT at the start'} ` +
        `and ${atEnd.granted ? `still after ${seconds} s` : 'NOT at the end'} (${atEnd.waiting} lock requests waiting behind it then)`,
    };
  } finally {
    await holder.end().catch(() => undefined);
  }
}

/** Sets a stand-in's faults (an empty body only reads them); answers its counters. */
async function standInFaults(baseUrl: string, faults: { failForMs?: number; delayMs?: number }) {
  const control = new URL('/control/faults', baseUrl);
  const res = await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
  if (!res.ok) throw new Error(`${control} answered ${res.status}`);
  return (await res.json()) as { delayMs: number; failForMs: number; requests: number; delayed: number };
}

/**
 * A request to the card processor that changes nothing (a charge that does not exist): what it
 * answers, or `timeout` when it did not answer within `timeoutMs`.
 */
async function probeProvider(config: Config, timeoutMs: number): Promise<number | 'timeout'> {
  try {
    const res = await fetch(new URL('/charges/ch_chaos_probe', config.PAYMENT_PROVIDER_URL), { signal: AbortSignal.timeout(timeoutMs) });
    return res.status;
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return 'timeout';
    throw err;
  }
}

/**
 * The card processor answers 503 to everything for a while (`failForMs`), as in an outage: the
 * payment runs' charges and refunds are retried. A probe during it must be answered 5xx and one
 * after it 404 (no such charge), and the stand-in's request counter must show requests of the
 * pipeline during it (the run sends course payments all through the payment span).
 */
async function providerOutage(config: Config, seconds: number, say: Say): Promise<Injected> {
  const before = await standInFaults(config.PAYMENT_PROVIDER_URL, { failForMs: seconds * 1000 });
  say(`payment provider answers 503 to every request for ${seconds} s`);
  const during = await probeProvider(config, 5_000);
  await sleep(seconds * 1000);
  const after = await waitFor('the provider outage over', 30_000, async () => {
    const faults = await standInFaults(config.PAYMENT_PROVIDER_URL, {});
    return faults.failForMs === 0 ? faults : undefined;
  }, 500);
  const back = await probeProvider(config, 5_000);
  say('payment provider answers again');
  const met = after.requests - before.requests - 1;
  return {
    injected: typeof during === 'number' && during >= 500 && back === 404 && met > 0,
    evidence: `a probe during it answered ${during}, one after it ${back}; ${met} requests of the pipeline arrived during the ${seconds} s${met > 0 ? ', each answered 503' : ' (NONE MET IT)'}`,
  };
}

/**
 * The card processor holds every answer longer than the payment workers wait
 * (PARTNER_CALL_TIMEOUT_MS) but still carries each request out: a charge made while its caller
 * had given up, whose answer was lost, the case the charge's idempotency key exists for. A probe
 * with the workers' timeout must get no answer and the counter of held requests must show the
 * pipeline's calls met it; the processor's table gives the charges it made after their callers
 * had given up (the money check then finds whether a retry charged again).
 */
async function slowProvider(config: Config, seconds: number, say: Say): Promise<Injected> {
  const delayMs = config.PARTNER_CALL_TIMEOUT_MS + 5_000;
  const start = new Date();
  const before = await standInFaults(config.PAYMENT_PROVIDER_URL, { delayMs });
  say(`payment provider answers after ${delayMs} ms (the workers wait ${config.PARTNER_CALL_TIMEOUT_MS} ms) for ${seconds} s`);
  let after: Awaited<ReturnType<typeof standInFaults>>;
  let probe: number | 'timeout' | undefined;
  try {
    probe = await probeProvider(config, config.PARTNER_CALL_TIMEOUT_MS);
    await sleep(Math.max(0, seconds * 1000 - config.PARTNER_CALL_TIMEOUT_MS));
  } finally {
    after = await standInFaults(config.PAYMENT_PROVIDER_URL, { delayMs: 0 });
    say('payment provider answers at once again');
  }
  const lifted = new Date();
  const held = after.delayed - before.delayed - 1;
  // Made from `delayMs` into the window until it ended: only a request held the whole delay is
  // carried out then (one sent after the window is made at once, so later ones are not counted).
  const lost = await chargesMadeBetween(config, new Date(start.getTime() + delayMs), lifted);
  return {
    injected: before.delayMs === delayMs && after.delayMs === 0 && probe === 'timeout' && held > 0,
    evidence:
      `a probe waiting ${config.PARTNER_CALL_TIMEOUT_MS} ms got ${probe === 'timeout' ? 'no answer' : `an answer (${probe})`}; ${held} requests of the pipeline held ${delayMs} ms ` +
      `during the ${seconds} s; ${lost} charges made after their callers had given up (answers lost)`,
  };
}

/** Charges the card processor's table says it made between two moments (a held request's is made when its hold ends). */
async function chargesMadeBetween(config: Config, from: Date, to: Date): Promise<number> {
  const pg = new PgClient({ ...postgresConnectionOptions(config), connectionTimeoutMillis: 5_000 });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ n: string }>('SELECT count(*) AS n FROM provider_charges WHERE created_at BETWEEN $1 AND $2', [from, to]);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await pg.end().catch(() => undefined);
  }
}

/**
 * The partner stand-in holds every answer longer than the clients wait (PARTNER_CALL_TIMEOUT_MS),
 * so each call times out as an outage and is retried; then the delay is cleared. Its counter of
 * delayed requests shows the pipeline's calls met it.
 */
async function slowDownPartner(config: Config, seconds: number, say: Say): Promise<Injected> {
  const control = new URL('/control/faults', config.INSURER_SERVICE_URL);
  const set = async (delayMs: number) => {
    const res = await fetch(control, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delayMs }) });
    if (!res.ok) throw new Error(`${control} answered ${res.status}`);
    return (await res.json()) as { delayMs: number; requests: number; delayed: number };
  };
  const delayMs = config.PARTNER_CALL_TIMEOUT_MS + 5_000;
  const before = await set(delayMs);
  say(`${slowPartner} answers after ${delayMs} ms (the clients wait ${config.PARTNER_CALL_TIMEOUT_MS} ms) for ${seconds} s`);
  let after: Awaited<ReturnType<typeof set>>;
  try {
    await sleep(seconds * 1000);
  } finally {
    after = await set(0);
    say(`${slowPartner} answers at once again`);
  }
  const delayed = after.delayed - before.delayed;
  return {
    injected: before.delayMs === delayMs && delayed > 0,
    evidence: `${slowPartner} stand-in held ${delayed} of ${after.requests - before.requests} requests ${delayMs} ms (the client timeout is ${config.PARTNER_CALL_TIMEOUT_MS} ms) during the ${seconds} s`,
  };
}

/** The nice of `pid`'s session's autogroup; nothing where the kernel has no autogroups. */
export function setAutogroupNice(pid: number, niceness: number): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(niceness));
  } catch {
    // No autogroups (or not allowed): the process's own nice is what the scheduler goes by.
  }
}
