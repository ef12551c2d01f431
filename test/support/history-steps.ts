import type { temporal } from '@temporalio/proto';

/**
 * The activities a run's history asked for, in order: the remote ones it scheduled and the local
 * ones it recorded a marker for (local activities leave no scheduled event). A step run twice
 * appears twice, which a unique key in the database would hide.
 */
export function stepsOf(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? []).flatMap((e) => {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) return [scheduled];
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_local_activity') return [];
    return [JSON.parse(new TextDecoder().decode(marker.details!.data!.payloads![0]!.data!)).activity_type as string];
  });
}
