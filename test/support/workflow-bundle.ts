import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { failureConverterPath } from '../../src/codec/data-converter';
import { tracingEnabled } from '../../src/opentelemetry';
import { workflowInterceptorModules } from '../../src/workers/workflows-path';
import { allWorkflowsPath } from './all-workflows';

const bundles = new Map<boolean, Promise<WorkflowBundle>>();

/** Bundles every pipeline's workflows once per test file (with the OpenTelemetry interceptors when the file installed tracing); a fresh bundle per worker costs seconds each. */
export function workflowBundle(traced = tracingEnabled()): Promise<WorkflowBundle> {
  let bundle = bundles.get(traced);
  // With the workers' failure converter, so workflows' errors are encoded as in production.
  bundle ??= bundleWorkflowCode({ workflowsPath: allWorkflowsPath(), workflowInterceptorModules: workflowInterceptorModules(traced), failureConverterPath, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  bundles.set(traced, bundle);
  return bundle;
}
