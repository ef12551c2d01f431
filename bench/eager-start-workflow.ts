import { condition, proxyLocalActivities } from '@temporalio/workflow';
import type { BookingActivities } from '../src/activities/booking';
import type { BookingRequested } from '../src/contracts/booking';

/**
 * For bench/eager-start.ts only: a booking's commands as bookingWorkflow makes them (one local
 * `recordBooking`, then a timer until the stay ends), but taking its event from its input, as a
 * run started by `start` rather than signal-with-start would.
 */
export async function bookingFromInput(event: BookingRequested): Promise<string> {
  const { recordBooking } = proxyLocalActivities<BookingActivities>({ startToCloseTimeout: '10 seconds' });
  const recorded = await recordBooking(event);
  await condition(() => false, Date.parse(event.endDate) - Date.now());
  return recorded.status;
}
