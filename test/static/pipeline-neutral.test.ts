import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelines, type Pipeline } from '../../src/pipelines';
import { everyPipelinesWorkflowTypes } from '../../src/pipelines/pipeline';

/**
 * A pipeline is declared in one place: its own files and its descriptor in src/pipelines. The
 * files here loop over the pipeline list instead; should one of them name a pipeline again, adding
 * the next pipeline would mean finding and editing it by hand.
 */
const root = path.resolve(__dirname, '..', '..');

/** Files that serve every pipeline and must name none. */
const pipelineNeutral = [
  'scripts/record-histories.ts',
  'scripts/build-workflows.ts',
  'scripts/start.sh',
  'scripts/chaos.sh',
  'scripts/stack.sh',
  'scripts/test.sh',
  'scripts/test-unit.sh',
  'scripts/lint.sh',
  'scripts/isolated-stack.sh',
  'scripts/stack',
  'scripts/stack/search-attributes.ts',
  'src/logger.ts',
  'src/stack-services.ts',
  'src/demo/main.ts',
  'src/demo/outcomes.ts',
  'src/bridges/main.ts',
  'src/create-topics.ts',
  'src/workers',
  'test/support/all-workflows.ts',
  'test/support/real-stack.ts',
  'test/static',
];

const filesUnder = (entry: string): string[] =>
  statSync(path.join(root, entry)).isDirectory() ? readdirSync(path.join(root, entry)).flatMap((f) => filesUnder(path.join(entry, f))) : [entry];

/**
 * How a pipeline can be named: its process word (the first word of its name), its own workflow
 * types (not those every pipeline runs), task queue and topics.
 */
const namesOf = (pipeline: Pipeline): string[] => [
  pipeline.name.split('-')[0]!,
  ...pipeline.workflowTypes.filter((type) => !everyPipelinesWorkflowTypes.includes(type)),
  pipeline.taskQueue,
  ...[...(pipeline.bridge?.consumes ?? []), ...pipeline.emits].map((t) => t.topic),
];

/** Where each of its setting variables may be written: its own settings module (profiles included). */
const settingVariables = pipelines.flatMap((p) => Object.keys(p.settings.shape));

describe('a pipeline is declared only in its own files', () => {
  const files = pipelineNeutral.flatMap(filesUnder);

  it.each(pipelines)('no pipeline-neutral file names $name', (pipeline) => {
    const names = namesOf(pipeline).map((n) => n.toLowerCase());
    const found = files.flatMap((file) => {
      const text = readFileSync(path.join(root, file), 'utf8').toLowerCase();
      return names.filter((name) => text.includes(name)).map((name) => `${file}: ${name}`);
    });
    expect(found).toEqual([]);
  });

  it("no script or source file outside src/pipelines sets a pipeline's settings: each is selected by SETTINGS_PROFILE", () => {
    expect(settingVariables.length).toBeGreaterThan(0);
    const files = ['scripts', 'src', 'bench'].flatMap(filesUnder).filter((f) => !f.startsWith(`src${path.sep}pipelines${path.sep}`));
    const found = files.flatMap((file) => {
      const text = readFileSync(path.join(root, file), 'utf8');
      // Reading a setting from the typed config is fine; writing one (an assignment or an export) is not.
      return settingVariables.filter((v) => new RegExp(`${v}\\s*[=:]`).test(text)).map((v) => `${file}: ${v}`);
    });
    expect(found).toEqual([]);
  });
});
