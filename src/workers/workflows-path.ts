import path from 'node:path';
import { databaseErrorFailures } from '../activities/invalid-data';
import { tracingActivityInterceptor, tracingEnabled, workflowSpanSinks } from '../opentelemetry';
import { traceActivityInterceptor } from '../trace-node';
import { moduleFile } from '../module-file';

const workflowsDir = path.join(__dirname, '..', 'workflows');

/**
 * A workflow bundle's interceptors: the correlation ID and baggage always; with `traced`, first
 * Temporal's OpenTelemetry ones (the run's, signals' and scheduled activities' spans, ended into the
 * sink of `workerTracing`). Only when spans are recorded: the SDK evaluates a bundle's modules again
 * for every workflow, and OpenTelemetry's more than doubled the CPU per event (bench/traces-cost.ts).
 * Either bundle runs the other's histories: the interceptors add no command (test/replay).
 */
export const workflowInterceptorModules = (traced: boolean): string[] => [
  ...(traced ? [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] : []),
  moduleFile(workflowsDir, 'trace-context'),
];

/** Every worker runs these around each activity; workers built from a prebuilt bundle add them by hand. The span is outermost, so it times the others too. */
export const activityInterceptors = [tracingActivityInterceptor, traceActivityInterceptor, databaseErrorFailures];

/**
 * What every worker adds to its workflow code, bundled or prebuilt: the activity interceptors, and
 * the sink the bundle's workflow interceptors end their spans into. Read after `installTracing`.
 */
export const workerTracing = () => ({ interceptors: { activity: activityInterceptors }, sinks: workflowSpanSinks() });

/** Worker options for the workflow code in `modulePath` and its interceptors, the same wherever a worker is built. */
export const workflowCodeOf = (modulePath: string, traced = tracingEnabled()) => {
  const { interceptors, sinks } = workerTracing();
  return { workflowsPath: modulePath, interceptors: { ...interceptors, workflowModules: workflowInterceptorModules(traced) }, sinks };
};
