import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { paymentWorkflowId, type PaymentOrder } from '../contracts/payment';
import { logger } from '../logger';
import { pipelineStartOptions } from '../trace';

/**
 * Starts the runs of accepted payments after their `202` was sent, so that a request waits for one
 * INSERT and not for Temporal (a start costs the dev server about 11 ms of CPU: 200 a second is more
 * than a 2-core machine has while the runs work).
 *
 * The ledger row carries what its run needs (`run_order`, encoded by the payload codec as Temporal's
 * history would hold it) until Temporal acknowledged the start; then it is cleared. A row still
 * carrying it a while after it was accepted (the API was killed in between, or Temporal was
 * unreachable) is started by the sweeper, by any API process. Starting twice is harmless: the
 * workflow ID is the payment's and the start is idempotent.
 */
export interface RunStarterOptions {
  db: Pool;
  client: Client;
  taskQueue: string;
  /** Starts in flight at once. */
  concurrency?: number;
  /** Payments waiting here for their start, past which the API answers 503 (PAYMENT_API_MAX_WAITING_STARTS). */
  maxWaiting?: number;
  /** How often the sweeper looks for rows whose start was never acknowledged, and how old they must be. */
  sweepEveryMs?: number;
  sweepAfterMs?: number;
}

/** A run to start, as the ledger row keeps it: the order and the task queue of the workers to run it. */
interface PaymentRun {
  order: PaymentOrder;
  taskQueue: string;
}

export class PaymentRunStarter {
  private readonly waiting = new Map<string, PaymentRun>();
  private readonly queue: string[] = [];
  private inFlight = 0;
  private sweeper?: NodeJS.Timeout;
  private readonly concurrency: number;
  private readonly maxWaiting: number;
  private readonly sweepEveryMs: number;
  private readonly sweepAfterMs: number;

  constructor(private readonly options: RunStarterOptions) {
    this.concurrency = options.concurrency ?? 8;
    this.maxWaiting = options.maxWaiting ?? 20_000;
    this.sweepEveryMs = options.sweepEveryMs ?? 5_000;
    this.sweepAfterMs = options.sweepAfterMs ?? 30_000;
  }

  /** Whether another payment may be accepted now. */
  get hasRoom(): boolean {
    return this.waiting.size < this.maxWaiting;
  }

  /**
   * The run as the ledger keeps it until its start is acknowledged. Its task queue goes with it, so
   * a sweeper starts it where the API that accepted it would have (tests' APIs have their own).
   */
  async encode(order: PaymentOrder): Promise<Buffer> {
    const run: PaymentRun = { order, taskQueue: this.options.taskQueue };
    let payloads = [defaultPayloadConverter.toPayload(run)];
    for (const codec of this.codecs) payloads = await codec.encode(payloads);
    return Buffer.from(temporal.api.common.v1.Payloads.encode({ payloads }).finish());
  }

  async decode(runOrder: Buffer): Promise<PaymentRun> {
    let { payloads } = temporal.api.common.v1.Payloads.decode(runOrder);
    for (const codec of [...this.codecs].reverse()) payloads = await codec.decode(payloads);
    return defaultPayloadConverter.fromPayload<PaymentRun>(payloads[0]!);
  }

  /** The client's codecs (the project's encryption), applied as the client applies them to a start's arguments. */
  private get codecs() {
    return this.options.client.options.dataConverter.payloadCodecs ?? [];
  }

  /** Queues the start of this payment's run (once, however often it is asked). */
  enqueue(order: PaymentOrder, taskQueue = this.options.taskQueue): void {
    if (this.waiting.has(order.paymentId)) return;
    this.waiting.set(order.paymentId, { order, taskQueue });
    this.queue.push(order.paymentId);
    this.pump();
  }

  /** Starts sweeping every `sweepEveryMs`; `stop` ends it. */
  startSweeping(): void {
    this.sweeper = setInterval(() => {
      this.sweep().catch((err) => logger.warn({ err }, 'Payment API: sweeping for unstarted payments failed; will look again'));
    }, this.sweepEveryMs);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Queues the start of every payment whose row still carries its order after `sweepAfterMs`. */
  async sweep(): Promise<number> {
    const { rows } = await this.options.db.query<{ payment_id: string; run_order: Buffer }>(
      `SELECT payment_id, run_order FROM payments
        WHERE run_order IS NOT NULL AND accepted_at < now() - make_interval(secs => $1)
        ORDER BY accepted_at LIMIT $2`,
      [this.sweepAfterMs / 1000, Math.max(0, this.maxWaiting - this.waiting.size)],
    );
    let queued = 0;
    for (const row of rows) {
      if (this.waiting.has(row.payment_id)) continue;
      try {
        const { order, taskQueue } = await this.decode(row.run_order);
        this.enqueue(order, taskQueue);
        queued++;
      } catch (err) {
        // One unreadable order (its key gone from the ring) must not keep the others from starting.
        logger.error({ err, paymentId: row.payment_id }, 'Payment API: an accepted payment cannot be started: its order cannot be decoded');
      }
    }
    if (queued) logger.info({ queued }, 'Payment API: starting the runs of payments accepted earlier and never started');
    return queued;
  }

  /** Resolves once nothing waits here (tests, and a graceful stop). */
  async drained(): Promise<void> {
    while (this.waiting.size) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length) {
      const paymentId = this.queue.shift()!;
      this.inFlight++;
      this.startRun(this.waiting.get(paymentId)!)
        .catch((err) =>
          // The row keeps its order: the sweeper (or the client's retry under the same key) starts it.
          logger.warn({ err, paymentId }, 'Payment API: starting a payment run failed; the sweeper will try again'),
        )
        .finally(() => {
          this.inFlight--;
          this.waiting.delete(paymentId);
          this.pump();
        });
    }
  }

  private async startRun({ order, taskQueue }: PaymentRun): Promise<void> {
    try {
      await this.options.client.workflow.start('paymentWorkflow', {
        taskQueue,
        workflowId: paymentWorkflowId(order.paymentId),
        args: [order],
        ...pipelineStartOptions(order.trace, `payment ${order.paymentId}`),
        // A second start while the run is open attaches to it; one after it closed is refused by
        // the reuse policy, which is the same answer: the run exists.
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    await this.options.db.query('UPDATE payments SET run_order = NULL WHERE payment_id = $1', [order.paymentId]);
  }
}
