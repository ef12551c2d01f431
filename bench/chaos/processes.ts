/**
 * The processes a chaos run owns and breaks: the workers and bridges (children of this process,
 * restarted like a supervisor would when they die), and the isolated stack's Temporal dev server,
 * Kafka and PostgreSQL (started by scripts/stack.sh with this run's STACK_STATE_DIR and ports).
 *
 * A stack process is only ever killed by the pid in this run's own pid file, after checking that
 * its command line names this run's state directory, so the shared stack can never be hit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';

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
  /** Exits nobody asked for: a crash the harness had to restart. */
  crashes = 0;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly entry: string,
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
    const child = spawn(process.execPath, ['--import', 'tsx', this.entry], {
      cwd: repoDir,
      env: { ...this.env, SERVICE_NAME: this.name },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
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
      setTimeout(() => this.stopping || this.start(), 2_000);
    });
  }

  /** SIGKILL; the exit handler starts it again. */
  kill9(): void {
    if (!this.child?.pid) return;
    this.killedOnPurpose = true;
    this.child.kill('SIGKILL');
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

/** Runs a command with this run's stack environment; resolves with its exit code. */
function run(command: string, args: string[], logName: string): Promise<number> {
  const log = openSync(path.join(stateDir(), 'logs', logName), 'a');
  const child = spawn(command, args, { cwd: repoDir, env: process.env, stdio: ['ignore', log, log] });
  closeSync(log);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

/** `bash scripts/stack.sh up` with this run's environment: starts whatever is down, waits until healthy. */
export async function stackUp(): Promise<void> {
  const code = await run('bash', ['scripts/stack.sh', 'up'], 'chaos-stack-up.log');
  if (code !== 0) throw new Error(`scripts/stack.sh up failed (exit ${code}); see ${path.join(stateDir(), 'logs', 'chaos-stack-up.log')}`);
}

/** One component's function from the stack scripts (e.g. postgres_down), as scripts/bench.sh does for temporal. */
async function stackComponent(component: 'postgres', action: 'down' | 'up'): Promise<void> {
  const script = `source scripts/stack/lib.sh && source scripts/stack/${component}.sh && ensure_dirs && STACK_COMPONENT=${component} ${component}_${action}`;
  const code = await run('bash', ['-c', script], 'chaos-stack-up.log');
  if (code !== 0) throw new Error(`${component}_${action} failed (exit ${code})`);
}

/**
 * SIGKILLs the stack process in `$STACK_STATE_DIR/run/<name>.pid`, refusing unless its command
 * line contains `mustContain` (this run's own paths or port).
 */
function killStackProcess(pidName: string, mustContain: string): number {
  const pid = Number(readFileSync(path.join(stateDir(), 'run', `${pidName}.pid`), 'utf8').trim());
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  if (!cmdline.includes(mustContain)) {
    throw new Error(`refusing to kill pid ${pid}: its command line does not name ${mustContain}`);
  }
  process.kill(pid, 'SIGKILL');
  return pid;
}

export interface Fault {
  name: string;
  /** Seconds after the stream started. */
  at: number;
  /** Breaks something and brings it back; resolves once it is back. */
  inject(say: Say): Promise<void>;
}

export function faults(options: {
  workers: Supervised;
  bridges: Supervised;
  postgresStopSeconds: number;
  schedule: { worker: number; bridge: number; temporal: number; kafka: number; postgres: number };
}): Fault[] {
  const { workers, bridges, schedule } = options;
  const restartStack = async (say: Say, what: string, startMs: number) => {
    await stackUp();
    say(`${what} back after ${elapsed(startMs)} (scripts/stack.sh up)`);
  };
  return [
    {
      name: 'SIGKILL worker',
      at: schedule.worker,
      inject: async (say) => {
        workers.kill9();
        say('worker killed (SIGKILL); restarted in 2 s');
      },
    },
    {
      name: 'SIGKILL bridge',
      at: schedule.bridge,
      inject: async (say) => {
        bridges.kill9();
        say('bridge killed (SIGKILL); restarted in 2 s');
      },
    },
    {
      name: 'SIGKILL Temporal',
      at: schedule.temporal,
      inject: async (say) => {
        const start = Date.now();
        const pid = killStackProcess('temporal', path.join(stateDir(), 'temporal'));
        say(`Temporal dev server killed (SIGKILL, pid ${pid})`);
        await restartStack(say, 'Temporal', start);
      },
    },
    {
      name: 'SIGKILL Kafka',
      at: schedule.kafka,
      inject: async (say) => {
        const start = Date.now();
        const pid = killStackProcess('kafka', path.join(stateDir(), 'kafka'));
        say(`Kafka killed (SIGKILL, pid ${pid})`);
        await restartStack(say, 'Kafka', start);
      },
    },
    {
      name: `stop PostgreSQL ${options.postgresStopSeconds} s`,
      at: schedule.postgres,
      inject: async (say) => {
        const start = Date.now();
        await stackComponent('postgres', 'down');
        say(`PostgreSQL stopped (pg_ctl stop -m fast) for ${options.postgresStopSeconds} s`);
        await new Promise((r) => setTimeout(r, options.postgresStopSeconds * 1000));
        await stackComponent('postgres', 'up');
        say(`PostgreSQL back after ${elapsed(start)}`);
      },
    },
  ];
}
