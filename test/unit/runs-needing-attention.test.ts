import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { bookingTaskQueue } from '../../src/contracts/booking';
import { pipelines } from '../../src/pipelines';
import { countRunsNeedingAttention, needsAttentionQuery } from '../../src/workers/runs-needing-attention';

const keyword = (value: string) => defaultPayloadConverter.toPayload(value);

/** A run as visibility lists it: its type, task queue, search attributes and, once closed, its close time. */
const execution = (type: string, taskQueue: string, attributes: Record<string, string>, closed = false) => ({
  type: { name: type },
  taskQueue,
  searchAttributes: { indexedFields: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, keyword(v)])) },
  ...(closed && { closeTime: { seconds: 1 } }),
});

function fakeVisibility(pages: object[][]) {
  const asked: Array<{ query: string; nextPageToken?: Uint8Array }> = [];
  const client = {
    options: { namespace: 'default' },
    workflowService: {
      listWorkflowExecutions: async (request: { query: string; nextPageToken?: Uint8Array }) => {
        asked.push(request);
        const page = request.nextPageToken ? request.nextPageToken[0]! : 0;
        return { executions: pages[page], nextPageToken: page + 1 < pages.length ? Uint8Array.of(page + 1) : new Uint8Array() };
      },
    },
  } as unknown as Client;
  return { client, asked };
}

describe('counting the runs that need attention', () => {
  it('groups every page of NeedsAttention runs by pipeline, step, kind and whether the run is open', async () => {
    const parked = { PipelineStatus: 'NeedsAttention', FailedStep: 'recordBooking', AttentionKind: 'Refusal' };
    const { client, asked } = fakeVisibility([
      [execution('bookingWorkflow', bookingTaskQueue, parked), execution('bookingWorkflow', bookingTaskQueue, parked)],
      [
        // A test's own task queue: the pipeline is the one whose workflow type it is.
        execution('bookingWorkflow', 'bookings-test', parked),
        // Parked before runs said which kind (an old history), and a run that closed asking for a refund by hand.
        execution('bookingWorkflow', bookingTaskQueue, { PipelineStatus: 'NeedsAttention', FailedStep: 'recordBooking' }),
        execution('purchaseToSessionsWorkflow', 'purchases-test', { PipelineStatus: 'NeedsAttention', FailedStep: 'refundPayment', AttentionKind: 'Refusal' }, true),
        // A flag for an undecodable run: every pipeline's workers run it, on the run's own task queue.
        execution('undecodableRunWorkflow', bookingTaskQueue, { PipelineStatus: 'NeedsAttention', FailedStep: 'decodePayload', AttentionKind: 'Undecodable' }),
        execution('undecodableRunWorkflow', 'elsewhere', { PipelineStatus: 'NeedsAttention', FailedStep: 'decodePayload', AttentionKind: 'Undecodable' }),
      ],
    ]);
    const counts = [...(await countRunsNeedingAttention(client, pipelines)).values()].map(({ labels, count }) => ({ ...labels, count }));
    expect(counts).toEqual([
      { pipeline: 'booking', step: 'recordBooking', kind: 'Refusal', run: 'open', count: 3 },
      { pipeline: 'booking', step: 'recordBooking', kind: 'none', run: 'open', count: 1 },
      { pipeline: 'purchase-to-sessions', step: 'refundPayment', kind: 'Refusal', run: 'closed', count: 1 },
      { pipeline: 'booking', step: 'decodePayload', kind: 'Undecodable', run: 'open', count: 1 },
      { pipeline: 'other', step: 'decodePayload', kind: 'Undecodable', run: 'open', count: 1 },
    ]);
    expect(asked.map((a) => a.query)).toEqual([needsAttentionQuery, needsAttentionQuery]);
  });
});
