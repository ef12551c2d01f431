import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { attentionKindKey, pipelineStatusKey } from '../contracts/pipeline';

/** What the demo (src/demo/main.ts) connects once and hands to every pipeline's demo. */
export interface DemoContext {
  config: Config;
  db: Pool;
  /** Connected. */
  producer: Producer;
  client: Client;
  /** This demo run's tag: every ID it makes contains it, so runs never meet. */
  run: string;
}

/** What each story of a demo is, by the ID its outcome is printed under. */
export type Stories = Record<string, string>;

/** A pipeline's part of `npm start`'s demo stream. */
export interface PipelineDemo {
  /** The line printed above its outcomes. */
  heading: string;
  /** Sends its events, the awkward ones included. */
  publish(demo: DemoContext): Promise<Stories>;
  /** Waits for its runs to settle (playing any outside party they wait for) and prints a line per story. */
  printOutcomes(demo: DemoContext, stories: Stories): Promise<void>;
}

/** `parked (NeedsAttention, <kind>)` when the run waits for a person; undefined otherwise. */
export function parkedOutcome(description: WorkflowExecutionDescription): string | undefined {
  if (description.typedSearchAttributes.get(pipelineStatusKey) !== 'NeedsAttention') return undefined;
  const kind = description.typedSearchAttributes.get(attentionKindKey)?.toLowerCase() ?? 'parked';
  return `parked (NeedsAttention, ${kind})`;
}

/** `parked #<id>: <reason>` for the event the demo sent with `correlationId`, once the bridge parked it. */
export async function parkedEventOutcome(db: Pool, correlationId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string; reason: string }>('SELECT id, reason FROM parked_events WHERE correlation_id = $1', [correlationId]);
  const [row] = rows;
  if (!row) return undefined;
  return `parked #${row.id}: ${row.reason.length > 90 ? `${row.reason.slice(0, 90)}…` : row.reason}`;
}

/**
 * Asks `outcomeOf` for every story's ID every half second until each has one (or `seconds` have
 * passed), then prints a line per story: its ID, the story and how it ended.
 */
export async function printOutcomes(
  stories: Record<string, string>,
  outcomeOf: (id: string) => Promise<string | undefined>,
  seconds: number,
): Promise<void> {
  const ids = Object.keys(stories);
  let outcomes: Array<string | undefined> = [];
  for (let attempt = 0; attempt < seconds * 2; attempt++) {
    outcomes = await Promise.all(ids.map(outcomeOf));
    if (outcomes.every(Boolean)) break;
    await sleep(500);
  }
  // Payment IDs (pay_ and 32 hex digits) are longer than the other pipelines' IDs.
  const width = Math.max(24, ...ids.map((id) => id.length));
  ids.forEach((id, i) => console.log(`  ${id.padEnd(width)} ${stories[id]!.padEnd(50)} -> ${outcomes[i] ?? 'pending'}`));
}
