import {
  fulfillmentStateQuery,
  prescriptionTopics,
  prescriptionWorkflowId,
  type FulfillmentState,
  type PrescriptionIntake,
} from '../contracts/prescription';
import { parkedEventOutcome, parkedOutcome, printOutcomes, type DemoContext, type PipelineDemo, type Stories } from './outcomes';
import { demoCards, pay } from './pay';

/**
 * The prescription part of the demo stream: intakes as the intake service emits them, for the
 * payers the stack's insurer stand-in knows (stand-ins/partner-services), the awkward parts included.
 * Patients are invented; their names exist only in the intake topic and PostgreSQL.
 */
async function publish({ producer, run }: DemoContext): Promise<Stories> {
  const stories: Stories = {};
  const intake = async (n: number, story: string, changes: { payerId?: string; memberId?: string; npi?: string; postalCode?: string } = {}, times = 1) => {
    const prescriptionId = `rx_${run}_${n}`;
    stories[prescriptionId] = story;
    const event: PrescriptionIntake & { type: string } = {
      type: 'PRESCRIPTION_INTAKE_RECEIVED',
      prescriptionId,
      patient: {
        patientId: `patient_${run}_${n}`,
        name: `Demo Patient ${n}`,
        dateOfBirth: '1970-05-17',
        address: { line1: `${n} Harbour Street`, city: 'Springfield', postalCode: changes.postalCode ?? '12345', country: 'US' },
      },
      prescriber: { npi: changes.npi ?? '1234567893', name: 'Dr. Demo' },
      medication: { ndc: demoNdc, name: 'Metformin 500 mg', quantity: 60 },
      insurance: { payerId: changes.payerId ?? 'payer-standard', memberId: changes.memberId ?? `M${run}${n}` },
      writtenOn: new Date().toISOString().slice(0, 10),
      receivedAt: new Date().toISOString(),
    };
    for (let i = 0; i < times; i++) {
      await producer.send({
        topic: prescriptionTopics.intakeReceived,
        messages: [{ key: prescriptionId, value: JSON.stringify(event), headers: { 'correlation-id': `demo-${run}-rx${n}` } }],
      });
    }
  };
  await intake(1, 'copay owed, patient pays the link (sent twice)', {}, 2);
  await intake(2, 'fully covered: nothing owed', { payerId: 'payer-full-coverage' });
  await intake(3, 'claim rejected by the insurer', { payerId: 'payer-formulary-strict' });
  await intake(4, "prescriber's NPI is not valid", { npi: '1234567890' });
  await intake(5, 'coverage lapsed', { memberId: `LAPSED-${run}` });
  await intake(6, 'copay owed, never paid: link expires');
  await intake(8, 'copay paid twice: the second is refunded');
  // Printed by the demo from parked_events (correlation demo-<run>-rx7).
  await producer.send({
    topic: prescriptionTopics.intakeReceived,
    messages: [{ key: `rx_${run}_7`, value: '{"prescriptionId": "rx_broken", "patient": {}}', headers: { 'correlation-id': `demo-${run}-rx7` } }],
  });
  return stories;
}

/** An NDC the pharmacy stand-in's catalogue stocks. */
const demoNdc = '11111-0001-01';

/**
 * Plays the patients who pay their link through the payment API once the run waits for it (the
 * eighth pays twice, under two Idempotency-Keys, as a patient who clicks "pay" in two tabs), waits
 * for the runs to settle and prints how each ended, then the malformed intake.
 */
async function printPrescriptionOutcomes({ client, config, db, run }: DemoContext, stories: Stories): Promise<void> {
  const payments: Record<string, number> = { [`rx_${run}_1`]: 1, [`rx_${run}_8`]: 2 };
  const paid = new Set<string>();
  const outcomeOf = async (prescriptionId: string): Promise<string | undefined> => {
    const handle = client.workflow.getHandle(prescriptionWorkflowId(prescriptionId));
    const description = await handle.describe().catch(() => undefined);
    if (!description) return undefined;
    const parked = parkedOutcome(description);
    if (parked) return parked;
    const state: FulfillmentState =
      description.status.name === 'COMPLETED' ? await handle.result() : await handle.query(fulfillmentStateQuery).catch(() => ({ status: 'Validating', prescriptionId }) as FulfillmentState);
    if (payments[prescriptionId] && state.status === 'AwaitingPayment' && !paid.has(prescriptionId)) {
      paid.add(prescriptionId);
      const copay = { amountCents: state.copayCents!, currency: 'USD', card: demoCards.charged };
      const purpose = { kind: 'copay' as const, prescriptionId, linkId: state.paymentLinkId! };
      for (let n = 1; n <= payments[prescriptionId]; n++) await pay(config, `demo-${run}-${prescriptionId}-${n}`, { ...copay, purpose });
    }
    if (description.status.name !== 'COMPLETED') return undefined;
    const detail = state.reason ? ` (${state.reason})` : state.trackingNumber ? ` (tracking ${state.trackingNumber})` : '';
    const refunded = state.refunds?.length ? `; ${state.refunds.length} payment refunded` : '';
    return `${state.status}${detail}${refunded}`;
  };
  // The expiring link needs the payment window (40 s in the demo profile `npm start` uses) and then some.
  await printOutcomes(stories, outcomeOf, 120);
  const parkedIntake = await parkedEventOutcome(db, `demo-${run}-rx7`);
  console.log(`  ${`rx_${run}_7`.padEnd(24)} ${'malformed intake (parked for an operator)'.padEnd(50)} -> ${parkedIntake ?? 'pending'}`);
  console.log(`  Audit log: psql ... -c "SELECT prescription_id, step, outcome, recorded_at FROM prescription_audit_log WHERE prescription_id LIKE 'rx_${run}_%' ORDER BY id"`);
}

export const prescriptionDemo: PipelineDemo = {
  heading: 'Prescriptions: each intake ends delivered or in the business outcome that stopped it:',
  publish,
  printOutcomes: printPrescriptionOutcomes,
};
