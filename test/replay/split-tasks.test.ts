import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { pipelines } from '../../src/pipelines';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { workflowCodeOf } from '../../src/workers/workflows-path';
import { newestHistoryFiles, readHistory, workflowTypeOf } from '../support/recorded-histories';
import { splitsAfterLocalActivities } from '../support/split-history';

/**
 * Core can end a workflow task right after a local activity's marker and put what the workflow did
 * next in the following task (test/support/split-history.ts). The newest history of every scenario,
 * split that way after each of its local activities in turn, must still replay: runs started today
 * decide their patches before any activity (src/workflows/patches.ts).
 */
installTemporalRuntime();
const pipelineOf = (history: any) => pipelines.find((p) => p.workflowTypes.includes(workflowTypeOf(history)))!;

/** What fails when each split of `histories` is replayed on its pipeline's workflow code. */
async function failedSplits(histories: Array<{ file: string; history: any }>): Promise<{ splits: number; failures: string[] }> {
  let splits = 0;
  const failures: string[] = [];
  for (const pipeline of pipelines) {
    const variants = histories
      .filter(({ history }) => pipelineOf(history) === pipeline)
      .flatMap(({ file, history }) =>
        splitsAfterLocalActivities(history).map((v, i) => ({ workflowId: `${file} split after ${v.activityType} (#${i + 1})`, history: v.history })),
      );
    splits += variants.length;
    for await (const result of Worker.runReplayHistories(workflowCodeOf(pipeline.workflowsPath), variants)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
  }
  return { splits, failures };
}

describe('histories whose workflow task Core split after a local activity', () => {
  it('replay on the current code, for every scenario as runs started today record it', async () => {
    const { splits, failures } = await failedSplits([...newestHistoryFiles().values()].map((file) => ({ file, history: readHistory(file) })));
    expect(failures).toEqual([]);
    expect(splits).toBeGreaterThan(50);
  });

  // Runs begun before patches were decided at the start decide them where they always did: split
  // after the activity before such a patch, their history fails. This is the test's own control,
  // and the exposure those runs keep.
  it('fail for a run that began before, on a split made here and on one Core made', async () => {
    const before = readHistory('prescription-paid-and-delivered-v4.json');
    const { failures } = await failedSplits([{ file: 'prescription-paid-and-delivered-v4.json', history: before }]);
    expect(failures).toEqual([
      expect.stringMatching(/split after validatePrescription.*Non-deprecated patch marker encountered for change demographics-change-held/),
    ]);

    // Recorded on the time-skipping server while a test queried the run: the first task ends at
    // validatePrescription's marker, and the patch after it is in the next task.
    const byCore = JSON.parse(readFileSync(path.resolve(__dirname, '..', 'fixtures', 'prescription-task-split-by-core.json'), 'utf8'));
    await expect(Worker.runReplayHistory(workflowCodeOf(pipelineOf(byCore).workflowsPath), byCore)).rejects.toThrow(
      /Non-deprecated patch marker encountered for change demographics-change-held/,
    );
  });
});
