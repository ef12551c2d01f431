/**
 * `npm run build:workflows [dir]`: two workflow bundles per pipeline (with and without the
 * OpenTelemetry workflow interceptors, src/workers/workflow-bundles.ts), for workers started with
 * WORKFLOW_BUNDLE_DIR=<dir> (npm start and the Docker image do). WORKFLOW_BUNDLE_SOURCE_MAPS=1
 * keeps the source maps (TypeScript lines in workflow stack traces, at a CPU cost per task).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipelines } from '../src/pipelines';
import { bundleFileOf, bundleWorkflows } from '../src/workers/workflow-bundles';

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? process.env.WORKFLOW_BUNDLE_DIR ?? 'build/workflows');
  const sourceMaps = process.env.WORKFLOW_BUNDLE_SOURCE_MAPS === '1';
  mkdirSync(dir, { recursive: true });
  for (const pipeline of pipelines) {
    for (const traced of [false, true]) {
      const file = bundleFileOf(dir, pipeline, traced);
      // Written aside and renamed, so a worker never loads half a bundle.
      writeFileSync(`${file}.tmp`, await bundleWorkflows(pipeline, { sourceMaps, traced }));
      renameSync(`${file}.tmp`, file);
      console.log(`==> workflow bundle for ${pipeline.name}${traced ? ' (traced)' : ''}: ${path.relative(process.cwd(), file)}`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
