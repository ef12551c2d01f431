import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { createUndecodableRunActivities } from '../activities/undecodable-run';
import type { Route } from '../bridges/route';
import type { Config } from '../config';
import type { PipelineDemo } from '../demo/outcomes';
import { undecodableRunWorkflow } from '../workflows/undecodable-run';
import type { DeclaredPipelineSettings } from './pipeline-settings';

/** What the worker entry point builds and hands to each pipeline's activities. */
export interface Infrastructure {
  config: Config;
  /** The pipeline's own pool: its steps stuck behind a lock cannot starve another pipeline. */
  db: Pool;
  /** Connects at its first send (src/connections.ts). */
  producer: Producer;
  redis: Redis;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
}

/**
 * Everything the entry points, the stack and the static checks need to know about one business
 * process. Adding a pipeline is writing one of these next to its contract and adding it to the
 * list in ./index.ts.
 */
export interface Pipeline {
  name: string;
  /**
   * Its variables (defaults and profile values), read where it uses them, and the fields of its
   * events that carry personal data (src/logger.ts censors them), in `<name>-settings.ts`.
   */
  settings: DeclaredPipelineSettings;
  taskQueue: string;
  /**
   * Its Kafka bridge, for a process started by events; none for one started another way (the
   * payments, from their ledger: `runStarter`).
   */
  bridge?: PipelineBridge;
  /**
   * What starts its runs where no Kafka topic does: the payment ledger's accepted payments
   * (src/bridges/payment-runs.ts). The bridges process runs it beside the Kafka bridges.
   */
  runStarter?(dependencies: { db: Pool; client: Client }): RunStarter;
  /** Topics its activities write. */
  emits: TopicSpec[];
  /** A module exporting exactly this pipeline's workflow types: its workers bundle only these. */
  workflowsPath: string;
  /** The workflow types that module exports; each needs a recorded history in test/histories. */
  workflowTypes: string[];
  /** Activities built only from what this pipeline uses of the infrastructure. */
  createActivities(infrastructure: Infrastructure): object;
  /**
   * A module exporting `histories` (a PipelineHistories): its scenarios for `npm run
   * record-histories`, kept in test/histories/scenarios beside the histories they write. A path, as
   * `workflowsPath` is, so only the recorder loads it: workers, bridges and the production image
   * never load the stand-ins and fakes the scenarios use.
   */
  historiesPath: string;
  /** Its part of `npm start`'s demo stream. */
  demo?: PipelineDemo;
}

export interface RunStarter {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PipelineBridge {
  /** The Kafka consumer group of its bridge. */
  consumerGroup: string;
  /** Topics its bridge reads, one route each. */
  consumes: TopicSpec[];
  /** Its bridge's routes; `config` for what the routes write into each run (timings). */
  routes(config: Config): Route[];
}

/** The pipelines with a Kafka bridge, each with it. */
export const bridgedPipelines = (pipelines: Pipeline[]) =>
  pipelines.flatMap((p) => (p.bridge ? [{ ...p, bridge: p.bridge }] : []));

/**
 * What every pipeline's workers run besides the pipeline's own process: the flag a worker starts
 * for a run whose workflow task it cannot decode (src/workers/undecodable-runs.ts), on the task
 * queue of that run. Each workflows module re-exports the workflow; each descriptor adds these.
 */
export const everyPipelinesWorkflowTypes = [undecodableRunWorkflow.name];
export const everyPipelinesActivities = () => createUndecodableRunActivities();

/** Every topic the pipelines read or write, once each. */
export function topicsOf(pipelines: Pipeline[]): TopicSpec[] {
  const byName = new Map<string, TopicSpec>();
  for (const spec of pipelines.flatMap((p) => [...(p.bridge?.consumes ?? []), ...p.emits])) byName.set(spec.topic, spec);
  return [...byName.values()];
}
