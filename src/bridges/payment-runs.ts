import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import { paymentWorkflowId } from '../contracts/payment';
import { logger } from '../logger';
import { decodeRun, type PaymentRun } from '../payment-api/run-order';
import { pipelineStartOptions } from '../trace';

/**
 * The bridge from the payment ledger to Temporal: it starts the runs of the payments the API
 * accepted. The API only writes the row, with the run's order in it (`run_order`), and answers
 * `202`; its requests never wait for Temporal, and its process spends nothing on starts. This is
 * seed 002's transactional outbox with its poller replaced by a notification: a trigger (migration
 * 013) notifies `payment_runs` when a row gets an order, and the bridge starts every row carrying
 * one, then clears it in the same transaction once Temporal acknowledged the start. It also looks
 * every `lookEveryMs`, for a notification it missed while its listening connection was down.
 *
 * Rows are taken `FOR UPDATE SKIP LOCKED`: several bridges processes share the work and start a
 * row once between them. Starting twice would be harmless anyway: the workflow ID is the payment's.
 */
export interface PaymentRunsOptions {
  db: Pool;
  client: Client;
  /** Rows taken (and starts in flight) at once. */
  batchSize?: number;
  lookEveryMs?: number;
}

export const paymentRunsChannel = 'payment_runs';

export class PaymentRunStarter {
  private listener?: PoolClient;
  private timer?: NodeJS.Timeout;
  private draining?: Promise<number>;
  private again = false;
  private stopped = false;
  private readonly batchSize: number;
  private readonly lookEveryMs: number;

  constructor(private readonly options: PaymentRunsOptions) {
    this.batchSize = options.batchSize ?? 16;
    this.lookEveryMs = options.lookEveryMs ?? 5_000;
  }

  /** Listens for accepted payments, starts those already waiting, and looks again every `lookEveryMs`. */
  async start(): Promise<void> {
    await this.listen().catch((err) => logger.warn({ err }, 'Payment runs: cannot listen for accepted payments yet; looking every few seconds'));
    this.timer = setInterval(() => {
      if (!this.listener) void this.listen().catch(() => undefined);
      this.wake();
    }, this.lookEveryMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.listener?.release(true);
    this.listener = undefined;
    await this.draining;
  }

  /**
   * Starts every payment whose row carries its run's order, a batch at a time, until none is left
   * or a whole batch failed (Temporal unreachable: the next notification or look tries again).
   * Resolves to the number of runs started.
   */
  async drain(): Promise<number> {
    let started = 0;
    for (;;) {
      const batch = await this.startBatch();
      started += batch.started;
      if (batch.taken < this.batchSize || batch.started === 0) return started;
    }
  }

  /** Drains now, or once more after the drain in progress: a notification is never lost in between. */
  private wake(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain()
      .catch((err) => {
        logger.warn({ err }, 'Payment runs: starting accepted payments failed; trying again at the next look');
        return 0;
      })
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async listen(): Promise<void> {
    const connection = await this.options.db.connect();
    connection.on('notification', () => this.wake());
    // A dropped connection is found at the next look, which listens again.
    connection.on('error', () => {
      if (this.listener === connection) this.listener = undefined;
      connection.release(true);
    });
    await connection.query(`LISTEN ${paymentRunsChannel}`);
    this.listener = connection;
  }

  private async startBatch(): Promise<{ taken: number; started: number }> {
    const tx = await this.options.db.connect();
    try {
      await tx.query('BEGIN');
      const { rows } = await tx.query<{ payment_id: string; run_order: Buffer }>(
        `SELECT payment_id, run_order FROM payments WHERE run_order IS NOT NULL
          ORDER BY accepted_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      const results = await Promise.all(rows.map((row) => this.startRun(row.payment_id, row.run_order)));
      const started = rows.filter((_, i) => results[i]).map((row) => row.payment_id);
      await tx.query('UPDATE payments SET run_order = NULL WHERE payment_id = ANY($1)', [started]);
      await tx.query('COMMIT');
      return { taken: rows.length, started: started.length };
    } catch (err) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      tx.release();
    }
  }

  /** Whether Temporal has the run now (started here, or earlier). A failure leaves the row for the next try. */
  private async startRun(paymentId: string, runOrder: Buffer): Promise<boolean> {
    let run: PaymentRun;
    try {
      run = await decodeRun(runOrder, this.options.client.options.dataConverter.payloadCodecs ?? []);
    } catch (err) {
      // One unreadable order (its key gone from the ring) must not keep the others from starting.
      logger.error({ err, paymentId }, 'Payment runs: an accepted payment cannot be started: its order cannot be decoded');
      return false;
    }
    const { order, taskQueue } = run;
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
      return true;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
      logger.warn({ err, paymentId }, 'Payment runs: starting a payment run failed; trying again at the next look');
      return false;
    }
  }
}
