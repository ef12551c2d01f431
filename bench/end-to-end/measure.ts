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

/** Samples the resident memory of named processes every 250 ms; `stop()` gives each one's peak. */
export function sampleRss(pids: Record<string, number | undefined>) {
  const peaks: Record<string, number> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const rss = pid === undefined ? NaN : rssBytes(pid);
      if (!Number.isNaN(rss)) peaks[name] = Math.max(peaks[name] ?? 0, rss);
    }
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    stop(): Record<string, number> {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** Busy CPU seconds of the whole machine, all cores: what is not idle or waiting for I/O. */
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / ticksPerSecond;
}

/** This process alone: its children are the systems measured, counted on their own. */
const harnessCpuSeconds = () => (readStat(process.pid)?.own ?? NaN) / ticksPerSecond;

/**
 * CPU seconds of each named process tree over a phase, and of `harness` (this process); and how
 * many cores, on average, the rest of the machine kept busy meanwhile. The machine is shared:
 * that figure says how much other work competed with a phase.
 */
export function cpuMeter(pids: Record<string, number | undefined>) {
  const read = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid === undefined ? NaN : treeCpuSeconds(pid)])),
    harness: harnessCpuSeconds(),
  });
  const start = { at: Date.now(), machine: machineBusySeconds(), used: read() };
  return {
    stop(): { cpuSeconds: Record<string, number>; otherCores: number } {
      const after = read();
      const cpuSeconds = Object.fromEntries(Object.keys(after).map((name) => [name, after[name]! - start.used[name]!]));
      const ours = Object.values(cpuSeconds).reduce((sum, v) => sum + (Number.isNaN(v) ? 0 : v), 0);
      const others = Math.max(0, machineBusySeconds() - start.machine - ours);
      return { cpuSeconds, otherCores: others / ((Date.now() - start.at) / 1000) };
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
