import { patched } from '@temporalio/workflow';

/**
 * A run decides its patches in its first activation, before it calls any activity; no workflow
 * calls `patched()` but through here (test/static/workflow-patches.test.ts).
 *
 * Why: the SDK's Core (1.24) can record a local activity's result in one workflow task and what
 * the workflow did with it in the next. It does so when a query rides the task and the activity
 * finishes while the query is being answered (seen with a test's queries on the time-skipping
 * server; nothing shows the real server's queries, the Web UI's or the CLI's, cannot). Replaying
 * that history, Core hands the workflow the result while still on the first task, before it has
 * announced the second task's patch markers, so a `patched()` called just after a local activity
 * answers false where the run had answered true, and the run fails as nondeterministic (seen in
 * CI; test/replay/split-tasks.test.ts replays the newest history of every scenario split that
 * way). A `patched()` in the first activation has no activity before it.
 *
 * Runs that began before this decided each patch where its branch is; they still do, so their
 * histories replay as recorded (with the same exposure as before).
 */
const decidedAtStart = 'patches-decided-at-start';

export interface RunPatches {
  /**
   * Whether this run takes `patchId`. A change released before patches were decided at the start:
   * true for every run that began since; a run that began before asks `patched()` where it always
   * did. A change released since (one of `later`): decided with the others, at the start.
   */
  has(patchId: string): boolean;
}

/**
 * Call first in a workflow function, before anything is awaited. `later`: the workflow's patches
 * released after `decidedAtStart`, each with a marker of its own, since a run that began before it
 * has `decidedAtStart` and must not take it.
 */
export function patchesOfThisRun(later: readonly string[] = []): RunPatches {
  const begunSince = patched(decidedAtStart);
  const laterTaken = new Set(later.filter((patchId) => patched(patchId)));
  return { has: (patchId) => (later.includes(patchId) ? laterTaken.has(patchId) : begunSince || patched(patchId)) };
}
