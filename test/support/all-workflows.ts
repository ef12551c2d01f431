import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipelines } from '../../src/pipelines';

/**
 * A module exporting every pipeline's workflows, for tests whose one worker runs several pipelines.
 * Written from the pipeline list (production workers bundle each pipeline's own `workflowsPath`),
 * so no hand-kept index of workflows exists to forget a pipeline in.
 */
export function allWorkflowsPath(): string {
  const file = path.resolve(__dirname, '..', 'fixtures', 'all-workflows.generated.ts');
  const code = pipelines.map((p) => `export * from '${path.relative(path.dirname(file), p.workflowsPath).replace(/\.ts$/, '')}';\n`).join('');
  if (!existsSync(file) || readFileSync(file, 'utf8') !== code) {
    // Aside and renamed: test files run in parallel and may write it at the same time.
    const aside = `${file}.${process.pid}.tmp`;
    writeFileSync(aside, code);
    renameSync(aside, file);
  }
  return file;
}
