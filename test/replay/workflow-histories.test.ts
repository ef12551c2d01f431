import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowCode } from '../../src/workers/workflows-path';
import * as workflows from '../../src/workflows';

/**
 * Every history recorded from a real run (`npm run record-histories`) must still replay against
 * today's workflow code; a change that would break running workflows fails here, not in production.
 */
const historiesDir = path.resolve(__dirname, '..', 'histories');

async function loadHistories() {
  const files = (await readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({ workflowId: file, history: JSON.parse(await readFile(path.join(historiesDir, file), 'utf8')) })),
  );
}

describe('recorded workflow histories', () => {
  it('covers every workflow type the workers run', async () => {
    const histories = await loadHistories();
    const types = new Set(
      histories.map((h) => h.history.events[0].workflowExecutionStartedEventAttributes.workflowType.name as string),
    );
    const exported = Object.keys(workflows);
    expect([...types].sort()).toEqual(exported.sort());
  });

  it('all replay against the current workflow code', async () => {
    const histories = await loadHistories();
    expect(histories.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(workflowCode, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });

  it('catches a change that is not behind patched(): reordered steps fail to replay', async () => {
    const [first] = await loadHistories();
    await expect(
      Worker.runReplayHistory({ workflowsPath: path.resolve(__dirname, '..', 'fixtures', 'reordered-workflows.ts') }, first!.history),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
