import path from 'node:path';

/** The one workflowsPath every worker bundles (tests included). */
export const workflowsPath = path.join(__dirname, '..', 'workflows', 'index.ts');
