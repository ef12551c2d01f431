import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { failureConverterPath } from '../codec/data-converter';
import type { Pipeline } from '../pipelines';
import { workflowInterceptorModules } from './workflows-path';

/**
 * Prebuilt workflow bundles, two per pipeline (`npm run build:workflows`): with and without the
 * OpenTelemetry workflow interceptors (`workflowInterceptorModules`), for workers with and without
 * an OTLP endpoint. A worker that bundles
 * its workflows itself runs webpack at every start: seconds of CPU, and a heap that stays
 * hundreds of MB larger for the life of the process.
 */
export const bundleFileOf = (dir: string, pipeline: Pipeline, traced = false): string =>
  path.resolve(dir, `${pipeline.name}${traced ? '.traced' : ''}.js`);

/**
 * No source map in the bundle, only the empty one the SDK's loader insists on: the SDK maps every
 * frame of a stack it captures for each promise a workflow creates (the `__stack_trace` query),
 * and with the map that was a large part of each workflow task's CPU. Stack traces then name the
 * bundle's lines, and the bundle keeps each module's path in a comment above its code.
 */
const emptySourceMap = (file: string) =>
  // Split, or tools reading this file would take the line for its own source map.
  `//${'#'} sourceMappingURL=data:application/json;base64,${Buffer.from(
    JSON.stringify({ version: 3, file, sources: [], names: [], mappings: '' }),
  ).toString('base64')}`;

export async function bundleWorkflows(pipeline: Pipeline, { sourceMaps = false, traced = false } = {}): Promise<string> {
  const { code } = (await bundleWorkflowCode({
    workflowsPath: pipeline.workflowsPath,
    workflowInterceptorModules: workflowInterceptorModules(traced),
    // Workflow code converts its own errors, in the sandbox: the converter must be in the bundle.
    failureConverterPath,
    logger: new DefaultLogger('WARN'),
    ...(sourceMaps ? {} : { webpackConfigHook: (config) => ({ ...config, devtool: false }) }),
  })) as WorkflowBundleWithSourceMap;
  return sourceMaps ? code : `${code}\n${emptySourceMap(`${pipeline.name}.js`)}\n`;
}

export function prebuiltBundle(dir: string, pipeline: Pipeline, traced = false): { codePath: string } {
  const codePath = bundleFileOf(dir, pipeline, traced);
  if (!existsSync(codePath)) throw new Error(`No workflow bundle for ${pipeline.name} at ${codePath}; run npm run build:workflows`);
  return { codePath };
}
