/**
 * The two systems the benchmark compares, each run as child processes on the isolated stack:
 * the project (dist/workers/main.js and dist/bridges/main.js, compiled, as scripts/start.sh runs them) and
 * the seed-style worker (bench/seed-worker/main.ts, writing into a database of its own). Also the
 * stack's own processes, whose CPU is counted per phase.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import type { Pool } from 'pg';
import { bridgedPipelines, pipelines } from '../../src/pipelines';
import { purchaseToSessionsWorkflow } from '../../src/workflows/purchase';
import { Supervised, type Say } from '../chaos/processes';
import { bookingGroup } from '../seed-worker/booking';
import { purchaseGroups } from '../seed-worker/purchase';

export type SystemName = 'seed' | 'project';

export interface System {
  name: SystemName;
  /** Where its rows are. */
  db: Pool;
  /** The consumer groups that read the streams' topics (and, for the seed, its own chain). */
  groups: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Its own processes by role, for CPU and memory. */
  pids(): Record<string, number | undefined>;
  /** Exits nobody asked for, by role (each process was started again, as a supervisor would), and why. */
  crashes(): Record<string, { exits: number; why: string[] }>;
  /**
   * Once a phase's rows are all written: why the system is not at rest yet, or undefined when it
   * is. `workflowIds` are the runs most likely still busy (the last events sent, the last rows).
   */
  unsettled(workflowIds: string[]): Promise<string | undefined>;
}

interface Options {
  env: NodeJS.ProcessEnv;
  say: Say;
  admin: Admin;
}

export function seedSystem(db: Pool, seedDatabaseUrl: string, { env, say, admin }: Options): System {
  const worker = new Supervised('seed-worker', 'bench/seed-worker/main.ts', { ...env, DATABASE_URL: seedDatabaseUrl }, say, 'bench');
  const groups = [bookingGroup, ...Object.values(purchaseGroups)];
  return {
    name: 'seed',
    db,
    groups,
    async start() {
      worker.start();
      await waitForGroups(admin, groups);
    },
    stop: () => worker.stop(),
    pids: () => ({ worker: worker.pid }),
    crashes: () => ({ worker: crashesOf(worker) }),
    // Its rows are all it does: a redelivery it skips writes nothing.
    unsettled: async () => undefined,
  };
}

export function projectSystem(db: Pool, client: Client, namespace: string, { env, say, admin }: Options): System {
  // Compiled, as npm start and the image run them (scripts/bench.sh builds dist/).
  // BENCH_WORKER_PROCESSES (1): worker processes on the same task queues, as a second machine's would be.
  const workers = Array.from({ length: Number(process.env.BENCH_WORKER_PROCESSES ?? 1) }, (_, i) => {
    const worker = new Supervised(i === 0 ? 'workers' : `workers-${i + 1}`, 'dist/workers/main.js', env, say, 'bench');
    // BENCH_WORKER_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): node's flags for the workers only.
    worker.nodeArgs = process.env.BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    return worker;
  });
  // The report adds up every role named `worker…` (bench/end-to-end/report.ts).
  const workerRole = (i: number) => (i === 0 ? 'worker' : `worker ${i + 1}`);
  const bridges = new Supervised('bridges', 'dist/bridges/main.js', env, say, 'bench');
  // BENCH_BRIDGE_NODE_ARGS: node's flags for the bridges only, as BENCH_WORKER_NODE_ARGS for the workers.
  bridges.nodeArgs = process.env.BENCH_BRIDGE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const groups = bridgedPipelines(pipelines).map((p) => p.bridge.consumerGroup);
  return {
    name: 'project',
    db,
    groups,
    async start() {
      for (const worker of workers) worker.start();
      bridges.start();
      await Promise.all([waitForPollers(client, namespace), waitForGroups(admin, groups)]);
    },
    stop: async () => void (await Promise.all([...workers.map((worker) => worker.stop()), bridges.stop()])),
    pids: () => ({ ...Object.fromEntries(workers.map((worker, i) => [workerRole(i), worker.pid])), bridge: bridges.pid }),
    crashes: () => ({ ...Object.fromEntries(workers.map((worker, i) => [workerRole(i), crashesOf(worker)])), bridge: crashesOf(bridges) }),
    unsettled: (workflowIds) => projectUnsettled(client, namespace, admin, workflowIds),
  };
}

/**
 * At rest: every record committed by the bridges (so no signal is still on its way), no workflow
 * or activity task queued on any pipeline's task queue, no purchase run still working (a run
 * parked for a person is at rest), and the runs most likely to be busy have no pending workflow
 * task or activity. Checking every run would cost seconds per poll for thousands of runs; the
 * queues' backlog covers the rest, and the last runs are where work is in flight.
 */
async function projectUnsettled(client: Client, namespace: string, admin: Admin, workflowIds: string[]): Promise<string | undefined> {
  for (const p of pipelines) {
    const committed = p.bridge ? await admin.fetchOffsets({ groupId: p.bridge.consumerGroup, topics: p.bridge.consumes.map((t) => t.topic) }) : [];
    for (const { topic, partitions } of committed) {
      const ends = await admin.fetchTopicOffsets(topic);
      const behind = ends.reduce((sum, end) => {
        const offset = Number(partitions.find((c) => c.partition === end.partition)?.offset ?? -1);
        return sum + Number(end.high) - Math.max(offset, Number(end.low));
      }, 0);
      if (behind > 0) return `bridge ${p.bridge!.consumerGroup}: ${behind} records of ${topic} not committed`;
    }
    for (const taskQueueType of [1, 2]) {
      const { stats } = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: p.taskQueue }, taskQueueType, reportStats: true });
      const backlog = Number(stats?.approximateBacklogCount ?? 0);
      if (backlog > 0) return `${backlog} ${taskQueueType === 1 ? 'workflow' : 'activity'} tasks queued on ${p.taskQueue}`;
    }
  }
  const working = await client.workflow.count(
    `WorkflowType='${purchaseToSessionsWorkflow.name}' AND ExecutionStatus='Running' AND PipelineStatus!='NeedsAttention'`,
  );
  if (working.count > 0) return `${working.count} purchase runs still working`;
  for (const workflowId of workflowIds) {
    const { raw } = await client.workflow.getHandle(workflowId).describe();
    if (raw.pendingWorkflowTask) return `${workflowId} has a pending workflow task`;
    const pending = raw.pendingActivities?.length ?? 0;
    if (pending > 0) return `${workflowId} has ${pending} pending activities`;
  }
  return undefined;
}

/** Why a process exited by itself, from its log: the workflow thread out of heap, or its fatal lines. */
function crashesOf(child: Supervised): { exits: number; why: string[] } {
  if (child.crashes === 0) return { exits: 0, why: [] };
  let log = '';
  try {
    log = readFileSync(path.join(process.env.STACK_STATE_DIR!, 'logs', `${child.name}.log`), 'utf8');
  } catch {
    return { exits: child.crashes, why: [] };
  }
  const outOfHeap = log.match(/"msg":"Workflow Worker Thread failed: Error \[ERR_WORKER_OUT_OF_MEMORY\]/g)?.length ?? 0;
  const fatal = [...log.matchAll(/"level":"fatal".*?"msg":"([^"]*)"/g)].map((m) => m[1]!);
  const why = outOfHeap ? [`its workflow thread ran out of heap (ERR_WORKER_OUT_OF_MEMORY) ${outOfHeap} times`] : [...new Set(fatal)];
  return { exits: child.crashes, why };
}

/** The stack's processes: pid files of scripts/stack.sh, and PostgreSQL's postmaster.pid. */
export function stackPids(): Record<string, number | undefined> {
  const state = process.env.STACK_STATE_DIR!;
  const firstLine = (file: string) => {
    try {
      return Number(readFileSync(file, 'utf8').split('\n')[0]!.trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  return {
    temporal: firstLine(path.join(state, 'run', 'temporal.pid')),
    postgres: firstLine(path.join(state, 'postgres', 'data', 'postmaster.pid')),
    kafka: firstLine(path.join(state, 'run', 'kafka.pid')),
    adminService: firstLine(path.join(state, 'run', 'admin-service.pid')),
  };
}

/** Every group has joined and holds its partitions, so a burst of events meets running consumers. */
async function waitForGroups(admin: Admin, groups: string[]): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const { groups: described } = await admin.describeGroups(groups);
    if (described.every((g) => g.state === 'Stable' && g.members.length > 0)) return;
    if (Date.now() > deadline) {
      throw new Error(`consumer groups not stable after 3 minutes: ${described.map((g) => `${g.groupId} ${g.state}`).join(', ')}`);
    }
    await sleep(500);
  }
}

/** The workers bundle their workflows first; a system is ready once every queue has a poller. */
async function waitForPollers(client: Client, namespace: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const polled = await Promise.all(
      pipelines.flatMap((p) =>
        [1, 2].map((taskQueueType) =>
          client.workflowService
            .describeTaskQueue({ namespace, taskQueue: { name: p.taskQueue }, taskQueueType })
            .then((r) => r.pollers.length > 0)
            .catch(() => false),
        ),
      ),
    );
    if (polled.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('the workers did not poll within 3 minutes; see logs/workers.log');
    await sleep(500);
  }
}
