import { Context } from '@temporalio/activity';
import type { Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import type { z } from 'zod';
import { prescriptionEventId, prescriptionTopics, type PrescriptionTopics } from '../contracts/prescription';
import { currentCorrelationId, currentTrace, eventHeaders } from '../trace-node';
import { activityLogger } from '../logger';

/**
 * One step's entry in the HIPAA audit log: who (the service and the workflow run), what (the step
 * and its decision, identifiers only, never PHI), when (the database's clock), and the outcome.
 * The step is the activity that records it, so the log and the workflow use one name for it.
 */
export interface AuditEntry<D extends object> {
  prescriptionId: string;
  outcome: string;
  detail: D;
}

export interface AuditedStepDependencies {
  db: Pool;
  /** Connected. */
  producer: Producer;
  /** Who the audit log says acted: the worker's service name. */
  actor: string;
  /** Where the events go; the seed's topics unless a test gives its own. */
  topics?: PrescriptionTopics;
}

/** How each fulfillment activity records its step and announces it, bound once to the worker's database, name and producer. */
export function createAuditedSteps({ db, producer, actor, topics }: AuditedStepDependencies) {
  return {
    record: <D extends object>(entry: AuditEntry<D>, write: (tx: PoolClient) => Promise<unknown>) => recordAuditedStep(db, actor, entry, write),
    emit: createPrescriptionEmitter(producer, topics),
  };
}

export type AuditedSteps = ReturnType<typeof createAuditedSteps>;

/**
 * Writes a step's data (`write`) and its audit row in one transaction, once. The audit log's unique
 * (prescription, step) key makes a retried step find what its earlier attempt recorded: nothing is
 * written again, and the step answers what was recorded then, not what it computed this time.
 */
async function recordAuditedStep<D extends object>(
  db: Pool,
  actor: string,
  { prescriptionId, outcome, detail }: AuditEntry<D>,
  write: (tx: PoolClient) => Promise<unknown>,
): Promise<{ outcome: string; detail: D; firstTime: boolean }> {
  const { activityType: step, workflowExecution: run } = Context.current().info;
  const tx = await db.connect();
  try {
    await tx.query('BEGIN');
    const inserted = await tx.query(
      `INSERT INTO prescription_audit_log (prescription_id, step, outcome, actor, workflow_id, run_id, detail, correlation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (prescription_id, step) DO NOTHING`,
      [prescriptionId, step, outcome, actor, run?.workflowId ?? null, run?.runId ?? null, detail, currentCorrelationId()],
    );
    if (inserted.rowCount === 1) {
      await write(tx);
      await tx.query('COMMIT');
      return { outcome, detail, firstTime: true };
    }
    await tx.query('ROLLBACK');
  } catch (err) {
    await tx.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    tx.release();
  }
  const { rows } = await db.query<{ outcome: string; detail: D }>(
    'SELECT outcome, detail FROM prescription_audit_log WHERE prescription_id = $1 AND step = $2',
    [prescriptionId, step],
  );
  return { ...rows[0]!, firstTime: false };
}

/**
 * Emits a step's event, keyed by prescription so one prescription's events stay in order. Sent
 * after the step's transaction committed: a retry may send it twice, with the same event ID.
 */
function createPrescriptionEmitter(producer: Producer, topics: PrescriptionTopics = prescriptionTopics) {
  return async function emit<S extends z.ZodType<{ prescriptionId: string; eventId: string; type: string }>>(
    topic: keyof PrescriptionTopics,
    schema: S,
    event: z.input<S>,
  ): Promise<void> {
    const parsed = schema.parse(event);
    await producer.send({
      topic: topics[topic],
      messages: [{ key: parsed.prescriptionId, value: JSON.stringify(parsed), headers: eventHeaders() }],
    });
    activityLogger({ topic: topics[topic], eventId: parsed.eventId }).info(`Emitted ${parsed.type}`);
  };
}

/** The fields every emitted event shares; the time is the activity's, the ID the business identity's. */
export function eventEnvelope<T extends string>(type: T, prescriptionId: string) {
  return {
    type,
    eventId: prescriptionEventId(type, prescriptionId),
    prescriptionId,
    correlationId: currentTrace()?.correlationId,
    occurredAt: new Date().toISOString(),
  };
}
