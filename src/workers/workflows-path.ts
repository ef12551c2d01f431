import path from 'node:path';
import { databaseErrorFailures } from '../activities/invalid-data';
import { traceActivityInterceptor } from '../trace-node';
import { moduleFile } from '../module-file';

const workflowsDir = path.join(__dirname, '..', 'workflows');

export const workflowInterceptorModules = [moduleFile(workflowsDir, 'trace-context')];

/** Every worker runs these around each activity; workers built from a prebuilt bundle add them by hand. */
export const activityInterceptors = [traceActivityInterceptor, databaseErrorFailures];

/** Worker options for the workflow code in `modulePath` and its interceptors, the same wherever a worker is built. */
export const workflowCodeOf = (modulePath: string) => ({
  workflowsPath: modulePath,
  interceptors: { workflowModules: workflowInterceptorModules, activity: activityInterceptors },
});
