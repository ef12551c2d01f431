import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { z } from 'zod';
import { UndecodablePayload } from '../codec/encryption-codec';
import type { TraceContext } from '../trace';

/** How one topic's events become workflow starts or signals. */
export interface Route<E = any> {
  topic: string;
  schema: z.ZodType<E>;
  /** Events with the same key are delivered one after another, in offset order. */
  orderingKey(event: E): string;
  /**
   * The Kafka record key producers give this event, which chose its partition; the ordering key
   * unless it is coarser (purchases are keyed by student, ordered per student and course).
   */
  kafkaKey?(event: E): string;
  /**
   * Starts or signals the workflow. Must be idempotent: the same event may come again. Runs inside
   * `withTrace(trace)`, so the client sends the trace as a header too. Answers `duplicate` when it
   * found the event already delivered; throws `Undeliverable` when no workflow can take it.
   */
  deliver(client: Client, event: E, trace: TraceContext): Promise<void | 'duplicate'>;
  /**
   * What an event means when its workflow's run has already closed (Temporal answers
   * AlreadyStarted: the reuse policy is REJECT_DUPLICATE), judged by how the run ended and, where
   * the route keeps it in the run's memo, what the run was started from.
   * `duplicate`: the run already did what the event asks (the payment ran, the booking was made
   * and then cancelled); it is logged. `undelivered`: the run closed without what the event
   * brings (a booking whose run gave up waiting for it); it is parked for an operator, with the
   * route's own reason when it gives one (`{ undelivered: reason }`).
   */
  closedRun(run: ClosedRun, event: E): 'duplicate' | 'undelivered' | { undelivered: string };
}

/** How a closed run ended: Temporal's status, and for a completed run its result's `status`. */
export interface ClosedRun {
  status: 'Completed' | 'Failed' | 'Canceled' | 'Terminated' | 'Continued as new' | 'Timed out' | string;
  outcome?: string;
  /** A completed run's whole result, for a route that needs more than its `status`. */
  result?: unknown;
  /** The run's memo, as its start wrote it. */
  memo?: Record<string, unknown>;
}

/**
 * Thrown by a route when no workflow can take the event (a payment for a prescription whose run has
 * ended without it): the record is parked with this message as its reason, for a person to settle.
 */
export class Undeliverable extends Error {}

/** Keeps the event's type when a route is written inline. */
export const route = <E>(r: Route<E>): Route<E> => r;

/**
 * How the workflow's latest run ended: `running` while it is open (or paused), `missing` when
 * there is none (never started, or closed past its retention). Throws `Undeliverable` when the
 * run's memo or result is encrypted under a key this process's ring lacks: no retry can read it
 * (a worker rotated the ring and this process was not given the new key), so the event is parked,
 * with the key ID, instead of holding its partition.
 */
export async function howRunEnded(client: Client, workflowId: string): Promise<ClosedRun | 'running' | 'missing'> {
  const handle = client.workflow.getHandle(workflowId);
  const unreadable = (err: unknown): never => {
    if (!(err instanceof UndecodablePayload)) throw err;
    throw new Undeliverable(
      `workflow ${workflowId} has closed, but how it ended cannot be read here: ${err.message}; give this bridge's key ring (PAYLOAD_KEY_RING_FILE) that key, restart it, and replay the event`,
    );
  };
  let description: Awaited<ReturnType<typeof handle.describe>>;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    return unreadable(err);
  }
  const status = description.status.name;
  if (status === 'RUNNING' || status === 'PAUSED') return 'running';
  const name = status.charAt(0) + status.slice(1).toLowerCase().replace(/_/g, ' ');
  const memo = description.memo ? { memo: description.memo } : {};
  if (status !== 'COMPLETED') return { status: name, ...memo };
  const result: unknown = await handle.result().catch(unreadable);
  const outcome =
    typeof result === 'string' ? result : typeof (result as { status?: unknown })?.status === 'string' ? (result as { status: string }).status : undefined;
  return outcome ? { status: name, outcome, result, ...memo } : { status: name, result, ...memo };
}
