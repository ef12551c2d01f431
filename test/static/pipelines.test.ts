import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';
import { searchAttributes } from '../../src/contracts/pipeline';
import { bridgedPipelines, pipelines, topicsOf } from '../../src/pipelines';

/**
 * The pipeline list is what the workers, bridges, topic creation and search-attribute
 * registration read; these checks fail when a pipeline's topic, task queue or workflow is missing
 * from it, from docker-compose.yml or from the recorded histories.
 */
const root = path.resolve(__dirname, '..', '..');
const services: Record<string, any> = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }).services;

/** Every `...Topic` constant, and every topic of a `...Topics` object, exported by a contract module. */
async function contractTopics(): Promise<string[]> {
  const dir = path.join(root, 'src', 'contracts');
  const modules = await Promise.all(readdirSync(dir).map((file) => import(path.join(dir, file))));
  return modules.flatMap((mod) =>
    Object.entries(mod).flatMap(([name, value]) => {
      if (name.endsWith('Topic') && typeof value === 'string') return [value];
      // A process with many topics names them in one `...Topics` object.
      if (name.endsWith('Topics') && value && typeof value === 'object') return Object.values(value).filter((v) => typeof v === 'string');
      return [];
    }),
  );
}

/** Every function a module in src/workflows exports whose name ends in `Workflow`. */
async function workflowFunctions(): Promise<string[]> {
  const dir = path.join(root, 'src', 'workflows');
  const modules = await Promise.all(readdirSync(dir).map((file) => import(path.join(dir, file))));
  const names = modules.flatMap((mod) => Object.entries(mod).filter(([name, value]) => name.endsWith('Workflow') && typeof value === 'function').map(([name]) => name));
  return [...new Set(names)];
}

function recordedWorkflowTypes(): Set<string> {
  const dir = path.join(root, 'test', 'histories');
  return new Set(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')).events[0].workflowExecutionStartedEventAttributes.workflowType.name),
  );
}

describe('the pipeline list', () => {
  it('gives each pipeline its own name, task queue and consumer group', () => {
    for (const field of ['name', 'taskQueue'] as const) {
      const values = pipelines.map((p) => p[field]);
      expect(new Set(values).size, field).toBe(values.length);
    }
    const groups = bridgedPipelines(pipelines).map((p) => p.bridge.consumerGroup);
    expect(new Set(groups).size).toBe(groups.length);
  });

  it('declares every topic a contract names, so the stack and docker-compose create it', async () => {
    const declared = topicsOf(pipelines).map((t) => t.topic);
    const topics = await contractTopics();
    expect(topics.length).toBeGreaterThan(0);
    expect(declared).toEqual(expect.arrayContaining(topics));
    for (const spec of topicsOf(pipelines)) expect(spec.partitions, spec.topic).toBeGreaterThan(0);
  });

  it("routes exactly the topics each pipeline says it consumes", () => {
    for (const pipeline of bridgedPipelines(pipelines)) {
      const routed = pipeline.bridge.routes(loadConfig()).map((r) => r.topic).sort();
      expect({ pipeline: pipeline.name, routed }).toEqual({
        pipeline: pipeline.name,
        routed: pipeline.bridge.consumes.map((t) => t.topic).sort(),
      });
    }
  });

  it("bundles exactly each pipeline's workflow types for its workers, and every workflow belongs to a pipeline", async () => {
    for (const pipeline of pipelines) {
      const exported = Object.keys(await import(pipeline.workflowsPath)).sort();
      expect({ pipeline: pipeline.name, exported }).toEqual({ pipeline: pipeline.name, exported: [...pipeline.workflowTypes].sort() });
    }
    // Once each: the workflows every pipeline runs are in every pipeline's list.
    expect([...new Set(pipelines.flatMap((p) => p.workflowTypes))].sort()).toEqual((await workflowFunctions()).sort());
  });

  it('gives the history recorder scenarios for every pipeline', async () => {
    for (const pipeline of pipelines) {
      const { histories } = await import(pipeline.historiesPath);
      expect({ pipeline: pipeline.name, onStack: typeof histories?.onStack }).toEqual({ pipeline: pipeline.name, onStack: 'function' });
    }
  });

  it('has a recorded history of every workflow type of every pipeline, for the replay tests', () => {
    const recorded = recordedWorkflowTypes();
    for (const pipeline of pipelines) {
      for (const type of pipeline.workflowTypes) expect({ pipeline: pipeline.name, type, recorded: recorded.has(type) }).toMatchObject({ recorded: true });
    }
  });

  it('is what docker-compose.yml creates topics from and registers search attributes for', () => {
    const app = services['kafka-topics'];
    // The image's compiled src/create-topics.ts.
    expect(app.command).toContain('dist/create-topics.js');
    // Whole arguments, so a comment or a longer name cannot satisfy the check.
    const temporal = services.temporal.command as string[];
    for (const key of searchAttributes) expect(temporal).toContain(`--search-attribute=${key.name}=Keyword`);
  });
});
