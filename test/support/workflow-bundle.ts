import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { workflowInterceptorModules, workflowsPath } from '../../src/workers/workflows-path';

let bundle: Promise<WorkflowBundle> | undefined;

/** Bundles src/workflows once per test file; a fresh bundle per worker costs seconds each. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  return bundle;
}
