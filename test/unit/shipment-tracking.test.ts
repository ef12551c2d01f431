import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shipmentTrackingWorkflowId, trackingPollsPerRun } from '../../src/contracts/prescription';
import { shipmentTrackingWorkflow } from '../../src/workflows/prescription';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

/**
 * Every 2 minutes for 10 days is 7,200 polls: about 80,000 events in one history, past Temporal's
 * limit of 51,200. Polled here past two runs' worth (10 days would take minutes of the suite);
 * every run is the same size, so 10 days is 15 of them.
 */
describe('shipment tracking', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('starts over in a new run every 500 polls, each run far under the history limit', async () => {
    let polls = 0;
    const activities = { trackShipment: async (trackingNumber: string) => (polls++, { trackingNumber, status: 'in_transit' }) };
    const sizes = await withWorker(env, activities, async (taskQueue) => {
      const workflowId = shipmentTrackingWorkflowId(randomUUID());
      const handle = await env.client.workflow.start(shipmentTrackingWorkflow, {
        workflowId,
        taskQueue,
        args: [{ trackingNumber: 'TRK1', interval: '2 minutes' }],
      });
      while (polls < 2 * trackingPollsPerRun + 50) await env.sleep('6 hours');
      await handle.terminate('test over');
      // Each run's history, following the chain of continue-as-new.
      const sizes: number[] = [];
      for (let runId: string | undefined = handle.firstExecutionRunId; runId; ) {
        const { events } = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
        sizes.push(events!.length);
        runId = events!.at(-1)!.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      return sizes;
    });
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    // Temporal warns at 10,240 events and terminates a run at 51,200.
    for (const size of sizes) expect(size).toBeLessThan(6_000);
  }, 120_000);
});
