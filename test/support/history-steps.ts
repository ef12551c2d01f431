import type { temporal } from '@temporalio/proto';

/**
 * The activities a run's history asked for, in order: the remote ones it scheduled and the local
 * ones it recorded a marker for (local activities leave no scheduled event). A step run twice
 * appears twice, which a unique key in the database would hide. Takes a fetched history or one
 * read from a recorded JSON file (test/histories), whose payloads are base64 text.
 */
export function stepsOf(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? []).flatMap((e) => {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) return [scheduled];
    const marker = localActivityMarkerOf(e);
    return marker ? [marker.activity_type] : [];
  });
}

/** The attempt that ended each run of local activity `type` in the history (its markers), in order. */
export function localAttemptsOf(history: temporal.api.history.v1.IHistory, type: string): number[] {
  return (history.events ?? []).flatMap((e) => {
    const marker = localActivityMarkerOf(e);
    return marker?.activity_type === type ? [marker.attempt] : [];
  });
}

export function localActivityMarkerOf(e: temporal.api.history.v1.IHistoryEvent): { activity_type: string; attempt: number } | undefined {
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_local_activity') return undefined;
  const data: Uint8Array | string = marker.details!.data!.payloads![0]!.data!;
  const text = typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : new TextDecoder().decode(data);
  return JSON.parse(text);
}
