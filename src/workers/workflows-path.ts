import path from 'node:path';
import { traceActivityInterceptor } from '../trace-interceptors';

const workflowsDir = path.join(__dirname, '..', 'workflows');

/** The one workflowsPath every worker bundles (tests and the history recorder included). */
export const workflowsPath = path.join(workflowsDir, 'index.ts');
export const workflowInterceptorModules = [path.join(workflowsDir, 'trace-context.ts')];

/** Every worker runs these around each activity; workers built from a prebuilt bundle add them by hand. */
export const activityInterceptors = [traceActivityInterceptor];

/** Worker options for the workflow code and its interceptors, the same wherever a worker is built. */
export const workflowCode = {
  workflowsPath,
  interceptors: { workflowModules: workflowInterceptorModules, activity: activityInterceptors },
};
