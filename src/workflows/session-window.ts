import { condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SessionActivities, SessionSlot } from '../activities/sessions';
import {
  allocationEndedSignal,
  sessionWindowStateQuery,
  type SessionWindowInput,
  type SessionWindowState,
} from '../contracts/purchase';
import { operatorControls, type OperatorControls, type Steps } from './operator';
import { patchesOfThisRun } from './patches';
import { databaseStep, localDatabaseStep } from './step-options';

/**
 * A top-up's two steps are a few milliseconds of PostgreSQL each: they run as local activities,
 * inside the workflow task that wakes the window, instead of a round trip through the server each
 * (the same timeout, retries and outage handling; both are idempotent: the sessions' unique slot).
 * Runs that began before this keep their remote steps.
 */
const stepsLocal = 'session-window-steps-local';

/** Each step of a top-up, named after its activity, with its option set. */
const windowSteps = (operator: OperatorControls, local: boolean) => {
  const step = local ? localDatabaseStep : databaseStep;
  return operator.steps<SessionActivities>({
    // Runs have always parked at this step as `checkSessionWindow` (the FailedStep search attribute).
    sessionWindowOf: { ...step, stepName: 'checkSessionWindow' },
    scheduleSessions: step,
  });
};

/** The rolling window of seed 001: the next 7 weekday sessions, topped up when fewer than 3 remain. */
export const sessionWindowSize = 7;
export const topUpBelow = 3;
export const topUpCheckInterval = '6 hours';
/** Every session of an allocation is at this time of day, UTC. */
export const sessionTime = '10:00';
/** A week of checks per run keeps each run's history small; then the window continues as new. */
const checksPerRun = 28;

/**
 * Replaces the legacy 6-hourly cron for one allocation: a durable timer wakes it every 6 hours to
 * top the window up, until the allocation ends (a signal, or its row no longer approved/active).
 * "Now" is the workflow's clock, handed to the activities, so tests can skip weeks in seconds.
 */
export async function sessionWindowWorkflow(allocation: SessionWindowInput): Promise<SessionWindowState> {
  const patches = patchesOfThisRun();
  const state: SessionWindowState = { allocationId: allocation.allocationId, checks: 0, sessionsAdded: 0, ended: false };
  const operator = operatorControls(patches);
  const steps = windowSteps(operator, patches.has(stepsLocal));
  setHandler(allocationEndedSignal, () => void (state.ended = true));
  setHandler(sessionWindowStateQuery, () => state);

  while (!state.ended && state.checks < checksPerRun && !workflowInfo().continueAsNewSuggested) {
    state.checks++;
    await topUp(allocation, state, steps);
    if (!state.ended) await condition(() => state.ended, topUpCheckInterval);
  }
  if (!state.ended) return continueAsNew<typeof sessionWindowWorkflow>(allocation);
  operator.setStatus('Completed');
  return state;
}

async function topUp(
  allocation: SessionWindowInput,
  state: SessionWindowState,
  steps: Steps<SessionActivities>,
): Promise<void> {
  const now = new Date(); // workflow time: deterministic on replay
  const window = await steps.sessionWindowOf(allocation.allocationId, now.toISOString());
  if (!window.allocationActive) {
    state.ended = true;
    return;
  }
  if (window.futureSessions >= topUpBelow) return;
  const today = isoDate(now);
  const after = window.lastScheduledDate && window.lastScheduledDate > today ? window.lastScheduledDate : today;
  const slots = weekdaysAfter(after, sessionWindowSize - window.futureSessions).map((date): SessionSlot => ({ date, time: sessionTime }));
  state.sessionsAdded += await steps.scheduleSessions(allocation, slots);
}

const isoDate = (d: Date): string => d.toISOString().slice(0, 10);

/** The `count` weekdays (Monday to Friday) after `date` (YYYY-MM-DD). */
export function weekdaysAfter(date: string, count: number): string[] {
  const days: string[] = [];
  const day = new Date(`${date}T00:00:00Z`);
  while (days.length < count) {
    day.setUTCDate(day.getUTCDate() + 1);
    const weekday = day.getUTCDay();
    if (weekday !== 0 && weekday !== 6) days.push(isoDate(day));
  }
  return days;
}
