/**
 * What the benchmark reads from /proc: CPU seconds of a process and everything under it (the
 * PostgreSQL server and its backends), and resident memory sampled while a phase runs.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: Linux reports utime and stime in 1/100 s on every architecture Node runs on. */
const ticksPerSecond = 100;

interface Stat {
  ppid: number;
  /** utime + stime */
  own: number;
  /** cutime + cstime: children that exited and were waited for. */
  reaped: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields start after its last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by `pid` and its descendants, living or exited. A backend that exits
 * between two readings moves from the living into its parent's reaped time, so differences hold.
 */
export function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  const root = stats.get(pid);
  if (!root) return NaN;
  let ticks = root.own + root.reaped;
  const children = new Map<number, number[]>();
  for (const [p, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), p]);
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length) {
    const p = queue.pop()!;
    ticks += stats.get(p)!.own;
    queue.push(...(children.get(p) ?? []));
  }
  return ticks / ticksPerSecond;
}

export function rssBytes(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine, all cores: what is not idle or waiting for I/O. */
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / ticksPerSecond;
}

const ownCpuSeconds = (pid: number) => {
  const stat = readStat(pid);
  return stat ? (stat.own + stat.reaped) / ticksPerSecond : NaN;
};

export interface Measured {
  /** CPU seconds over the phase: each system process by role, each stack process tree, and `harness` (this process). */
  cpuSeconds: Record<string, number>;
  /** Cores the rest of the machine kept busy, on average: the machine is shared, this says how much other work competed. */
  otherCores: number;
  /** Peak resident memory of each system process, bytes. */
  peakRss: Record<string, number>;
  /**
   * How finely the peak was sampled: a peak between two samples is missed, and on a loaded machine
   * the timer can fire late, so the longest gap actually seen is reported, not just the interval.
   */
  sampling: { intervalMs: number; samples: number; longestGapMs: number };
}

/**
 * The processes a CPU figure is reported for, in the report's order, each with the roles it adds
 * up: every worker process (BENCH_WORKER_PROCESSES) counts as the worker.
 */
export function cpuProcesses(roles: string[], withAdmin = false): Array<[string, string[]]> {
  const workers = [...new Set(roles.filter((n) => n.startsWith('worker')))];
  return [
    ['worker', workers.length > 0 ? workers : ['worker']],
    ['bridge', ['bridge']],
    ['Temporal server', ['temporal']],
    ['PostgreSQL', ['postgres']],
    ['Kafka', ['kafka']],
    ...(withAdmin ? ([['admin service', ['adminService']]] as Array<[string, string[]]>) : []),
  ];
}

/** CPU ms per entity of the `roles` together; a role not measured (absent or NaN) counts as none. */
export function cpuMsPer(cpuSeconds: Record<string, number>, roles: string[], entities: number): number {
  const seconds = roles.reduce((sum, role) => sum + (Number.isNaN(cpuSeconds[role] ?? NaN) ? 0 : cpuSeconds[role]!), 0);
  return (seconds * 1000) / entities;
}

/** Often enough that a short-lived peak (a burst of runs being opened) is not missed between two samples. */
export const sampleIntervalMs = 250;

/**
 * Measures a phase. The system's own processes are sampled every 250 ms by their current pid, as
 * a crash replaces them (a process that dies is counted up to its last sample, its successor
 * from birth); the stack's process trees (PostgreSQL and its backends) are read at both ends.
 */
export function meter(systemPids: () => Record<string, number | undefined>, stackPids: Record<string, number | undefined>) {
  const peakRss: Record<string, number> = {};
  const byPid = new Map<number, { role: string; first: number; last: number }>();
  let atStart = true;
  const sampling = { intervalMs: sampleIntervalMs, samples: 0, longestGapMs: 0 };
  let lastSampleAt = Date.now();
  const sample = () => {
    const now = Date.now();
    sampling.longestGapMs = Math.max(sampling.longestGapMs, now - lastSampleAt);
    lastSampleAt = now;
    sampling.samples++;
    for (const [role, pid] of Object.entries(systemPids())) {
      if (pid === undefined) continue;
      const rss = rssBytes(pid);
      if (!Number.isNaN(rss)) peakRss[role] = Math.max(peakRss[role] ?? 0, rss);
      const used = ownCpuSeconds(pid);
      if (Number.isNaN(used)) continue;
      const seen = byPid.get(pid);
      if (seen) seen.last = used;
      else byPid.set(pid, { role, first: atStart ? used : 0, last: used });
    }
    atStart = false;
  };
  const readStack = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(stackPids).map(([name, pid]) => [name, pid === undefined ? NaN : treeCpuSeconds(pid)])),
    // Its own time only: the system processes it reaped are counted above.
    harness: (readStat(process.pid)?.own ?? NaN) / ticksPerSecond,
  });
  const start = { at: Date.now(), machine: machineBusySeconds(), stack: readStack() };
  sample();
  const timer = setInterval(sample, sampleIntervalMs);
  /** CPU seconds by role so far, from counters whose differences are what each used in between. */
  const used = (): Record<string, number> => {
    const total: Record<string, number> = readStack();
    for (const { role, first, last } of byPid.values()) total[role] = (total[role] ?? 0) + last - first;
    return total;
  };
  let lastAsked = { at: start.at, used: used() };
  return {
    /** Cores each role kept busy since the last ask (or the phase's start): where a slow stretch went. */
    coresSinceLastAsked(): Record<string, number> {
      const now = { at: Date.now(), used: used() };
      const seconds = Math.max((now.at - lastAsked.at) / 1000, 0.001);
      const cores = Object.fromEntries(Object.entries(now.used).map(([role, v]) => [role, (v - (lastAsked.used[role] ?? 0)) / seconds]));
      lastAsked = now;
      return cores;
    },
    stop(): Measured {
      clearInterval(timer);
      sample();
      const stack = readStack();
      const cpuSeconds: Record<string, number> = Object.fromEntries(Object.keys(stack).map((name) => [name, stack[name]! - start.stack[name]!]));
      for (const { role, first, last } of byPid.values()) cpuSeconds[role] = (cpuSeconds[role] ?? 0) + last - first;
      const ours = Object.values(cpuSeconds).reduce((sum, v) => sum + (Number.isNaN(v) ? 0 : v), 0);
      const others = Math.max(0, machineBusySeconds() - start.machine - ours);
      return { cpuSeconds, otherCores: others / ((Date.now() - start.at) / 1000), peakRss, sampling };
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
