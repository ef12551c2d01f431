import path from 'node:path';

const workflowsDir = path.join(__dirname, '..', 'workflows');

/** Every workflow type; the tests and the history recorder bundle this one module. */
export const workflowsPath = path.join(workflowsDir, 'index.ts');
export const workflowInterceptorModules = [path.join(workflowsDir, 'log-context.ts')];

/** Worker options for the workflow code in `modulePath`, the same wherever a worker is built. */
export const workflowCodeOf = (modulePath: string) => ({
  workflowsPath: modulePath,
  interceptors: { workflowModules: workflowInterceptorModules },
});

export const workflowCode = workflowCodeOf(workflowsPath);
