/**
 * Not a test: the worker's CPU per run of a workflow, without a server, Kafka or the noise of
 * either (issue 20). Replays one recorded history REPLAY_COST_RUNS (400) times in one replay
 * worker, after 100 to warm up, from the workflow bundle `npm run build:workflows` writes for its
 * pipeline, and prints the process's CPU (every thread) per run. The replay worker runs its
 * workflows in this process's thread, so a node flag or variable given to this process reaches them:
 *
 *   npx tsx bench/replay-cost.ts test/histories/booking-cancelled-by-owner-v6.json
 *   WORKFLOW_STACK_TRACES=true npx tsx bench/replay-cost.ts test/histories/booking-cancelled-by-owner-v6.json
 *
 * Compare runs made one after another: the figure is the difference, not the absolute value.
 */
import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { pipelines } from '../src/pipelines';
import { installTemporalRuntime } from '../src/workers/runtime';
import { bundleWorkflows } from '../src/workers/workflow-bundles';

const runs = Number(process.env.REPLAY_COST_RUNS ?? 400);

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: npx tsx bench/replay-cost.ts <recorded history .json>');
  installTemporalRuntime();
  const history = JSON.parse(readFileSync(file, 'utf8'));
  const type = history.events[0].workflowExecutionStartedEventAttributes.workflowType.name;
  const pipeline = pipelines.find((p) => p.workflowTypes.includes(type));
  if (!pipeline) throw new Error(`no pipeline runs ${type}`);
  const workflowBundle = { code: await bundleWorkflows(pipeline) };
  async function* copies(count: number) {
    for (let i = 0; i < count; i++) yield { workflowId: `replay-${i}`, history };
  }
  const replay = async (count: number) => {
    for await (const result of Worker.runReplayHistories({ workflowBundle }, copies(count))) if (result.error) throw result.error;
  };
  await replay(100);
  const before = process.cpuUsage();
  await replay(runs);
  const { user, system } = process.cpuUsage(before);
  console.log(`${type}: ${((user + system) / 1000 / runs).toFixed(1)} ms of CPU per replayed run (${runs} runs of ${file})`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
