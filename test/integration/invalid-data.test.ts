import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionQuery, type Attention } from '../../src/contracts/pipeline';
import { prescriptionWorkflowId } from '../../src/contracts/prescription';
import { prescriptionFulfillmentWorkflow } from '../../src/workflows/prescription';
import { prescriptionRequest } from '../support/prescription-intake';
import { localAttemptsOf } from '../support/history-steps';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * A value PostgreSQL cannot hold fails at every attempt. The schemas refuse the ones we know of at
 * the bridge; this is for the next one: past them, PostgreSQL's data error (class 22) is a refusal
 * at the first attempt, not an outage retried for a day.
 */
describe('a value PostgreSQL refuses', () => {
  let stack: RealStack;
  const taskQueue = () => `invalid-data-${stack.runId}`;

  beforeAll(async () => {
    stack = await connectRealStack();
    await stack.startWorker(taskQueue());
  });
  afterAll(async () => stack?.stop());

  it('parks its step as a refusal at the first attempt, with PostgreSQL\'s SQLSTATE and not the value', async () => {
    const prescriptionId = `rx-invalid-${stack.runId}`;
    const request = prescriptionRequest(prescriptionId);
    // Past the intake schema (which now bounds quantity by its column), straight to the workflow.
    const handle = await stack.client.workflow.start(prescriptionFulfillmentWorkflow, {
      workflowId: prescriptionWorkflowId(prescriptionId),
      taskQueue: taskQueue(),
      args: [{ ...request, medication: { ...request.medication, quantity: 3_000_000_000 } }],
    });
    try {
      const attention = await eventually(
        () => handle.query(attentionQuery),
        (a: Attention) => a.status === 'NeedsAttention',
        // An outage would use five attempts over 15 s of backoff first.
        8_000,
      );
      expect(attention).toMatchObject({ failedStep: 'validatePrescription', kind: 'Refusal' });
      // PostgreSQL's message quotes the value ('value "3000000000" is out of range for type integer'): only its SQLSTATE is carried.
      expect(attention.lastError).toBe('PostgreSQL refused a value (SQLSTATE 22003)');
      // A local activity: its attempts are in its markers; no remote attempt (an outage's slow retry) either.
      const history = await handle.fetchHistory();
      expect(localAttemptsOf(history, 'validatePrescription')).toEqual([1]);
      expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes)).toEqual([]);
      expect((await stack.db.query('SELECT 1 FROM prescriptions WHERE prescription_id = $1', [prescriptionId])).rowCount).toBe(0);
    } finally {
      await handle.terminate('test over');
    }
  });
});
