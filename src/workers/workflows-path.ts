import path from 'node:path';

const workflowsDir = path.join(__dirname, '..', 'workflows');

/** The one workflowsPath every worker bundles (tests and the history recorder included). */
export const workflowsPath = path.join(workflowsDir, 'index.ts');
export const workflowInterceptorModules = [path.join(workflowsDir, 'log-context.ts')];

/** Worker options for the workflow code, the same wherever a worker is built. */
export const workflowCode = { workflowsPath, interceptors: { workflowModules: workflowInterceptorModules } };
