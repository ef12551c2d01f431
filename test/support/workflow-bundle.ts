import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { failureConverterPath } from '../../src/codec/data-converter';
import { workflowInterceptorModules } from '../../src/workers/workflows-path';
import { allWorkflowsPath } from './all-workflows';

let bundle: Promise<WorkflowBundle> | undefined;

/** Bundles every pipeline's workflows once per test file; a fresh bundle per worker costs seconds each. */
export function workflowBundle(): Promise<WorkflowBundle> {
  // With the workers' failure converter, so workflows' errors are encoded as in production.
  bundle ??= bundleWorkflowCode({ workflowsPath: allWorkflowsPath(), workflowInterceptorModules, failureConverterPath, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  return bundle;
}
