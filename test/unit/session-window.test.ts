import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionActivities, SessionSlot } from '../../src/activities/sessions';
import { attentionQuery, operatorDecisionSignal } from '../../src/contracts/pipeline';
import { allocationEndedSignal, sessionWindowStateQuery, sessionWindowWorkflowId } from '../../src/contracts/purchase';
import { sessionWindowWorkflow } from '../../src/workflows/session-window';
import { weekdaysAfter } from '../../src/workflows/session-window';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

const sixHours = 6 * 60 * 60 * 1000;
const at = (s: SessionSlot) => Date.parse(`${s.date}T${s.time}:00Z`);

/**
 * An in-memory sessions table with the real activities' types. It records every check (with the
 * workflow's "now") and every top-up, and counts slots it was asked to add twice.
 */
function fakeSessionTable() {
  const slots = new Map<string, SessionSlot>();
  const checks: Array<{ now: number; future: number }> = [];
  const topUps: Array<{ now: number; futureBefore: number; futureAfter: number; added: string[] }> = [];
  let duplicateRequests = 0;
  let allocationActive = true;
  const futureAt = (now: number) => [...slots.values()].filter((s) => at(s) > now).length;

  const activities: SessionActivities = {
    async sessionWindowOf(_allocationId, now) {
      checks.push({ now: Date.parse(now), future: futureAt(Date.parse(now)) });
      const dates = [...slots.values()].map((s) => s.date).sort();
      return { allocationActive, futureSessions: futureAt(Date.parse(now)), lastScheduledDate: dates.at(-1) ?? null };
    },
    async scheduleSessions(_allocation, requested) {
      const now = checks.at(-1)!.now;
      const futureBefore = futureAt(now);
      for (const slot of requested) {
        const key = `${slot.date} ${slot.time}`;
        if (slots.has(key)) duplicateRequests++;
        else slots.set(key, slot);
      }
      topUps.push({ now, futureBefore, futureAfter: futureAt(now), added: requested.map((s) => s.date) });
      return requested.length;
    },
  };
  return {
    activities,
    checks,
    topUps,
    slots: () => [...slots.values()].sort((a, b) => at(a) - at(b)),
    duplicateRequests: () => duplicateRequests,
    endAllocation: () => void (allocationActive = false),
  };
}

const isWeekday = (date: string) => ![0, 6].includes(new Date(`${date}T00:00:00Z`).getUTCDay());
const daysBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;

/** 1, or 3 from a Friday and 2 from a Saturday. */
const daysToNextWeekday = (date: string) => ({ 5: 3, 6: 2 })[new Date(`${date}T00:00:00Z`).getUTCDay() as 5 | 6] ?? 1;

/** Every date a weekday, each the next weekday after the one before (Friday → Monday). */
function expectConsecutiveWeekdays(dates: string[]): void {
  expect(dates.filter((d) => !isWeekday(d))).toEqual([]);
  const wrong = dates.slice(1).filter((d, i) => daysBetween(dates[i]!, d) !== daysToNextWeekday(dates[i]!));
  expect(wrong).toEqual([]);
}

describe('weekdaysAfter', () => {
  it('counts Monday to Friday after the given day, skipping weekends', () => {
    expect(weekdaysAfter('2030-01-10', 4)).toEqual(['2030-01-11', '2030-01-14', '2030-01-15', '2030-01-16']); // from a Thursday
    expect(weekdaysAfter('2030-01-12', 2)).toEqual(['2030-01-14', '2030-01-15']); // from a Saturday
    expect(weekdaysAfter('2029-12-31', 3)).toEqual(['2030-01-01', '2030-01-02', '2030-01-03']); // across a year
    expect(weekdaysAfter('2030-01-10', 0)).toEqual([]);
  });
});

describe('session window', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  async function startWindow(table: ReturnType<typeof fakeSessionTable>, run: (handle: any) => Promise<void>) {
    await withWorker(env, table.activities, async (taskQueue) => {
      const allocationId = `alloc_${randomUUID()}`;
      const handle = await env.client.workflow.start(sessionWindowWorkflow, {
        taskQueue,
        workflowId: sessionWindowWorkflowId(allocationId),
        args: [{ allocationId, studentId: 'student_1', trainerId: 'trainer_1' }],
      });
      await run(handle);
    });
  }

  it('over four simulated weeks tops up every 6 hours to 7 weekday sessions, never above 7 and never twice', async () => {
    const table = fakeSessionTable();
    await startWindow(table, async (handle) => {
      await env.sleep('28 days');
      // A week of checks per run: four weeks means the window has continued as new.
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
      await handle.signal(allocationEndedSignal);
      expect(await handle.result()).toMatchObject({ ended: true });
    });

    const { checks, topUps } = table;
    expect(checks.length).toBeGreaterThanOrEqual(28 * 4);
    // Durable timers: one check every 6 hours of workflow time (plus the real milliseconds a check
    // takes), across continue-as-new.
    const gaps = checks.slice(1).map((c, i) => c.now - checks[i]!.now);
    expect(gaps.filter((gap) => gap < sixHours || gap > sixHours + 60_000)).toEqual([]);
    // The window is 7 right after each top-up, never more, and a top-up only happens below 3.
    expect(Math.max(...checks.map((c) => c.future))).toBeLessThanOrEqual(7);
    expect(topUps.map((t) => t.futureAfter)).toEqual(topUps.map(() => 7));
    expect(topUps.every((t) => t.futureBefore < 3)).toBe(true);
    expect(topUps.length).toBeGreaterThan(3);
    // Never duplicated, only weekdays, and no weekday left out.
    expect(table.duplicateRequests()).toBe(0);
    const dates = table.slots().map((s) => s.date);
    expect(new Set(dates).size).toBe(dates.length);
    expect(dates.filter((d) => [0, 6].includes(new Date(`${d}T00:00:00Z`).getUTCDay()))).toEqual([]);
    expectConsecutiveWeekdays(dates);
    // About four weeks of weekdays, plus the window ahead.
    expect(dates.length).toBeGreaterThanOrEqual(20 + 2);
  });

  it('opens with the next 7 weekdays and does nothing more while 3 or more remain', async () => {
    const table = fakeSessionTable();
    await startWindow(table, async (handle) => {
      await env.sleep('1 day');
      const state = await handle.query(sessionWindowStateQuery);
      expect(state).toMatchObject({ sessionsAdded: 7, ended: false });
      await handle.signal(allocationEndedSignal);
      await handle.result();
    });
    const [first] = table.topUps;
    expect(first?.futureBefore).toBe(0);
    // The 7 weekdays after the workflow's today, checked without the code under test.
    const today = new Date(first!.now).toISOString().slice(0, 10);
    expect(first!.added).toHaveLength(7);
    expect(daysBetween(today, first!.added[0]!)).toBe(daysToNextWeekday(today));
    expectConsecutiveWeekdays(first!.added);
    expect(table.topUps).toHaveLength(1);
  });

  it('stops at its next check once the allocation has ended in the database', async () => {
    const table = fakeSessionTable();
    let checksBeforeEnd = 0;
    await startWindow(table, async (handle) => {
      await env.sleep('49 hours');
      checksBeforeEnd = table.checks.length;
      table.endAllocation();
      expect(await handle.result()).toMatchObject({ ended: true });
    });
    expect(checksBeforeEnd).toBe(9);
    expect(table.checks).toHaveLength(checksBeforeEnd + 1);
  });

  it('parks as NeedsAttention when the sessions table stays unreachable, until an operator decides', async () => {
    const table = fakeSessionTable();
    table.activities.sessionWindowOf = async () => {
      throw new Error('database unavailable');
    };
    await startWindow(table, async (handle) => {
      let attention = await handle.query(attentionQuery);
      while (attention.status !== 'NeedsAttention') {
        await env.sleep('10 seconds');
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ failedStep: 'checkSessionWindow', lastError: 'database unavailable' });
      await handle.signal(operatorDecisionSignal, 'abort');
      const failure = await handle.result().catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure as WorkflowFailedError).cause).toMatchObject({
        type: 'OperatorAbort',
        message: 'Aborted by an operator at step checkSessionWindow',
      });
    });
  });
});
