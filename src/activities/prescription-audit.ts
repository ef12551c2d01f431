import { Context } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { currentCorrelationId } from '../trace-node';

/**
 * One step's entry in the HIPAA audit log: who (the service and the workflow run), what (the step
 * and its decision, identifiers only, never PHI), when (the database's clock), and the outcome.
 */
export interface AuditEntry<D extends object> {
  prescriptionId: string;
  step: string;
  outcome: string;
  detail: D;
}

/**
 * Writes a step's data (`write`) and its audit row in one transaction, once. The audit log's unique
 * (prescription, step) key makes a retried step find what its earlier attempt recorded: nothing is
 * written again, and the step answers what was recorded then, not what it computed this time.
 */
export async function recordAuditedStep<D extends object>(
  db: Pool,
  actor: string,
  entry: AuditEntry<D>,
  write: (tx: PoolClient) => Promise<unknown>,
): Promise<{ outcome: string; detail: D; firstTime: boolean }> {
  const run = currentRun();
  const tx = await db.connect();
  try {
    await tx.query('BEGIN');
    const inserted = await tx.query(
      `INSERT INTO prescription_audit_log (prescription_id, step, outcome, actor, workflow_id, run_id, detail, correlation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (prescription_id, step) DO NOTHING`,
      [entry.prescriptionId, entry.step, entry.outcome, actor, run?.workflowId ?? null, run?.runId ?? null, entry.detail, currentCorrelationId()],
    );
    if (inserted.rowCount === 1) {
      await write(tx);
      await tx.query('COMMIT');
      return { outcome: entry.outcome, detail: entry.detail, firstTime: true };
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
    [entry.prescriptionId, entry.step],
  );
  return { ...rows[0]!, firstTime: false };
}

/** The workflow run an activity serves; undefined when a test calls it directly. */
function currentRun(): { workflowId: string; runId: string } | undefined {
  try {
    return Context.current().info.workflowExecution;
  } catch {
    return undefined;
  }
}
