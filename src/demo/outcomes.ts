import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { attentionKindKey, pipelineStatusKey } from '../contracts/pipeline';

/** `parked (NeedsAttention, <kind>)` when the run waits for a person; undefined otherwise. */
export function parkedOutcome(description: WorkflowExecutionDescription): string | undefined {
  if (description.typedSearchAttributes.get(pipelineStatusKey) !== 'NeedsAttention') return undefined;
  const kind = description.typedSearchAttributes.get(attentionKindKey)?.toLowerCase() ?? 'parked';
  return `parked (NeedsAttention, ${kind})`;
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
  ids.forEach((id, i) => console.log(`  ${id.padEnd(24)} ${stories[id]!.padEnd(46)} -> ${outcomes[i] ?? 'pending'}`));
}
