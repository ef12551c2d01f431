/**
 * Core (SDK 1.24) may record a local activity's marker in one workflow task and what the workflow
 * did once the activity returned in the next: it does so when a query rides the task and the
 * activity finishes while the query is being answered (the task is completed for the query's
 * sake, with a new one forced). src/workflows/patches.ts says what that does to `patched()`.
 *
 * `splitsAfterLocalActivities` rewrites a recorded history into every such shape it could have
 * taken: one variant per local activity marker that has more commands after it in its task, with a
 * task boundary inserted right after the marker.
 */

import { localActivityMarkerOf } from './history-steps';

// A history as JSON (proto3 JSON from `historyToJSON`, as the recorded fixtures are): event IDs are strings or numbers.
type Json = any;

const isIdKey = (key: string) => key === 'eventId' || key.endsWith('EventId');

/** The same value with every event ID (the event's own and every reference to one) above `after` moved up by `by`. */
function shifted(value: Json, after: number, by: number): Json {
  if (Array.isArray(value)) return value.map((v) => shifted(v, after, by));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => {
      if (isIdKey(key) && (typeof v === 'string' || typeof v === 'number') && Number(v) > after) {
        return [key, typeof v === 'string' ? String(Number(v) + by) : Number(v) + by];
      }
      return [key, shifted(v, after, by)];
    }),
  );
}

/** Events a task's commands write (as opposed to what happened to them since: started, completed, fired, signalled). */
const commandEventTypes = new Set(
  [
    'MARKER_RECORDED',
    'ACTIVITY_TASK_SCHEDULED',
    'ACTIVITY_TASK_CANCEL_REQUESTED',
    'TIMER_STARTED',
    'TIMER_CANCELED',
    'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
    'WORKFLOW_PROPERTIES_MODIFIED',
    'START_CHILD_WORKFLOW_EXECUTION_INITIATED',
    'SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED',
    'REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED',
    'WORKFLOW_EXECUTION_COMPLETED',
    'WORKFLOW_EXECUTION_FAILED',
    'WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
  ].map((t) => `EVENT_TYPE_${t}`),
);

export interface SplitVariant {
  /** The local activity whose marker ends its task in this variant. */
  activityType: string;
  history: Json;
}

export function splitsAfterLocalActivities(history: Json): SplitVariant[] {
  const events: Json[] = history.events;
  const variants: SplitVariant[] = [];
  events.forEach((marker, i) => {
    const next = events[i + 1];
    // Only a marker that has more of its task's commands after it can be split from them.
    const activity = localActivityMarkerOf(marker);
    if (!activity || !next || !commandEventTypes.has(next.eventType)) return;
    const at = Number(marker.eventId);
    // An ID as the recorded events write theirs (proto3 JSON writes 64-bit integers as strings).
    const id = (n: number) => (typeof marker.eventId === 'string' ? String(n) : n);
    const time = marker.eventTime;
    const taskQueue = events[0].workflowExecutionStartedEventAttributes.taskQueue;
    const task = [
      { eventId: id(at + 1), eventTime: time, eventType: 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED', workflowTaskScheduledEventAttributes: { taskQueue, startToCloseTimeout: '10s', attempt: 1 } },
      { eventId: id(at + 2), eventTime: time, eventType: 'EVENT_TYPE_WORKFLOW_TASK_STARTED', workflowTaskStartedEventAttributes: { scheduledEventId: id(at + 1) } },
      { eventId: id(at + 3), eventTime: time, eventType: 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED', workflowTaskCompletedEventAttributes: { scheduledEventId: id(at + 1), startedEventId: id(at + 2) } },
    ];
    const after = events.slice(i + 1).map((e) => shifted(e, at, 3));
    variants.push({
      activityType: activity.activity_type,
      history: { ...history, events: [...events.slice(0, i + 1), ...task, ...after] },
    });
  });
  return variants;
}
