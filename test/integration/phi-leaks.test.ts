import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import type { Consumer, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrescriptionActivities } from '../../src/activities/prescription';
import { createPaymentActivities } from '../../src/activities/prescription-payment';
import { prescriptionRoutes } from '../../src/bridges/prescription-routes';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { readKeyRing, type KeyRing } from '../../src/codec/key-ring';
import { attentionQuery } from '../../src/contracts/pipeline';
import { prescriptionWorkflowId, type PrescriptionTopics } from '../../src/contracts/prescription';
import { createPartnerClients } from '../../src/partners/clients';
import type { StandIn } from '../../stand-ins/http';
import { createCarrierService, ensureCarrierSchema } from '../../stand-ins/partner-services/carrier';
import { createInsurerService, ensureInsurerSchema } from '../../stand-ins/partner-services/insurer';
import { createPharmacyService, ensurePharmacySchema } from '../../stand-ins/partner-services/pharmacy';
import { payloadsIn } from '../support/history-payloads';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * Issue 18, items 5 and 6, on the real stack: PHI fed in the ways that used to leak it (an intake
 * that is not JSON, a birth date PostgreSQL cannot hold, a partner's refusal quoting the patient)
 * ends up in no log line, no parked reason and no Temporal failure, and a parked intake is kept
 * encrypted, shown without a preview, replayable, and deleted after its retention.
 */
describe('PHI stays out of logs, parked records and failures', () => {
  let stack: RealStack;
  let topics: PrescriptionTopics;
  let standIns: StandIn[];
  let insurer: StandIn;
  let bridge: Consumer;
  let ring: KeyRing;
  let taskQueue: string;
  // Unique to this run, so a match in the shared log file can only come from here.
  let name: string;
  let memberId: string;
  let street: string;

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    ring = readKeyRing(stack.config.PAYLOAD_KEY_RING_FILE);
    name = `Jane ${id} Public`;
    memberId = `M-${id}-778812`;
    street = `${id} Harbour Street`;
    topics = {
      intakeReceived: `prescription.intake.received-${id}`,
      validationCompleted: `prescription.validation.completed-${id}`,
      enrollmentCompleted: `patient.enrollment.completed-${id}`,
      pharmacySelected: `pharmacy.selected-${id}`,
      adjudicationCompleted: `insurance.adjudication.completed-${id}`,
      paymentLinkCreated: `payment.link.created-${id}`,
      paymentCompleted: `payment.completed-${id}`,
      shipmentLabelCreated: `shipment.label.created-${id}`,
    };
    await stack.createTopics(...Object.values(topics));
    await Promise.all([ensurePharmacySchema(stack.db), ensureInsurerSchema(stack.db), ensureCarrierSchema(stack.db)]);
    const pharmacy = createPharmacyService(stack.db);
    insurer = createInsurerService(stack.db);
    const carrier = createCarrierService(stack.db);
    standIns = [pharmacy, insurer, carrier];
    const partners = createPartnerClients({
      pharmacyUrl: await pharmacy.listen(0),
      insurerUrl: await insurer.listen(0),
      carrierUrl: await carrier.listen(0),
      timeoutMs: 5_000,
    });
    taskQueue = `prescriptions-phi-${id}`;
    const deps = { db: stack.db, producer: stack.producer, actor: 'phi-test-worker', topics };
    await stack.startWorker(taskQueue, {
      ...createPrescriptionActivities({ ...deps, partners }),
      ...createPaymentActivities({ ...deps, paymentLinkBaseUrl: 'https://pay.example.com/links' }),
    });
    bridge = await stack.startBridge(
      prescriptionRoutes({ taskQueue, topics, timings: { paymentWindow: '15 seconds', trackingInterval: '1 second', deliveryDeadline: '1 minute' } }),
    );
  });

  afterAll(async () => {
    await Promise.all((standIns ?? []).map((s) => s.close()));
    await stack?.stop();
  });

  const intake = (prescriptionId: string, dateOfBirth = '1970-01-01') => ({
    type: 'PRESCRIPTION_INTAKE_RECEIVED',
    prescriptionId,
    patient: {
      patientId: `patient-${prescriptionId}`,
      name,
      dateOfBirth,
      address: { line1: street, city: 'Portsmouth', postalCode: '03801', country: 'US' },
    },
    prescriber: { npi: '1234567893', name: 'Dr. Test' },
    medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
    insurance: { payerId: 'payer-standard', memberId },
    writtenOn: new Date().toISOString().slice(0, 10),
    receivedAt: new Date().toISOString(),
  });

  /** Sends one intake record as it is; waits until the bridge has committed past it. */
  const sendIntake = async (prescriptionId: string, value: string) => {
    const [sent] = await stack.producer.send({
      topic: topics.intakeReceived,
      messages: [{ key: prescriptionId, value, headers: { 'correlation-id': `corr-${prescriptionId}` } }],
    });
    // Asked while the new group's coordinator is still being chosen, Kafka answers an error: ask again.
    const committed = () => stack.committedOffset(bridge, topics.intakeReceived, sent!.partition).catch(() => -1);
    await eventually(committed, (o) => o > Number(sent!.baseOffset), 30_000);
  };
  const parkedRow = async (prescriptionId: string) =>
    (
      await stack.db.query(
        `SELECT id, reason, payload, value_bytes, value_key_id, expires_at, parked_at FROM parked_events WHERE topic = $1 AND message_key = $2`,
        [topics.intakeReceived, prescriptionId],
      )
    ).rows[0];
  const mentionsPhi = (text: string) => [name, memberId, street, '0000-01-01'].filter((phi) => text.includes(phi));

  const replayParked = async (args: string[], stdin = '') => {
    const run = promisify(execFile)('node', ['--import', 'tsx', 'src/bridges/replay-parked.ts', ...args], { timeout: 60_000 });
    run.child.stdin!.end(stdin);
    return (await run).stdout;
  };

  let notJson: string;
  let yearZero: string;
  let refused: string;

  it('an intake that is not JSON is parked encrypted, for the retention, with where it stops being JSON and nothing of it', async () => {
    notJson = `rx-${stack.runId}-notjson`;
    const value = `${name}, 1970-01-01, member ${memberId}, ${street}`;
    await sendIntake(notJson, value);
    const row = await parkedRow(notJson);
    expect(row.reason).toBe('unparseable JSON at byte 0');
    expect(row.payload).toBeNull();
    expect(row.value_key_id).toBe(ring.currentKeyId);
    expect(mentionsPhi(Buffer.from(row.value_bytes).toString('latin1'))).toEqual([]);
    const days = (row.expires_at.getTime() - row.parked_at.getTime()) / 86_400_000;
    expect(days).toBeCloseTo(30, 1);

    // Replayed as it arrived: decrypted with the ring, byte for byte.
    const sent: Array<{ topic: string; messages: Array<{ key: unknown; value: unknown }> }> = [];
    const producer = { send: async (r: (typeof sent)[number]) => void sent.push(r) } as unknown as Producer;
    await stack.parkedEvents.replay(producer, Number(row.id));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.messages[0]!.value).toEqual(Buffer.from(value));
  });

  it('an intake born in the year 0000 is parked saying which field, not its value', async () => {
    yearZero = `rx-${stack.runId}-year0`;
    await sendIntake(yearZero, JSON.stringify(intake(yearZero, '0000-01-01')));
    const row = await parkedRow(yearZero);
    expect(row.reason).toBe('schema violation: patient.dateOfBirth: year 0000 does not exist in PostgreSQL');
    expect(row.value_key_id).toBe(ring.currentKeyId);
  });

  it('the operator list shows no payload of a parked intake; a correction comes on standard input, never the command line', async () => {
    // An intake parked before migration 011: in clear, with the expiry the migration gave it.
    await stack.db.query(
      `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason, correlation_id, key_bytes, value_bytes, header_names, header_values, expires_at)
       VALUES ($1, 0, 999999, 'schema violation', $2, $3, $4, '{}', '{}', now() + interval '1 day')`,
      [topics.intakeReceived, `corr-legacy-${stack.runId}`, Buffer.from('legacy'), Buffer.from(JSON.stringify(intake('legacy')))],
    );
    const listed = await replayParked(['--list', '--topic', topics.intakeReceived]);
    expect(listed).toContain('(personal data, parked before encryption; expires ');
    expect(listed).toContain(`corr-${yearZero}`); // the one not replayed yet
    expect(listed).toContain('(encrypted: personal data; expires ');
    expect(mentionsPhi(listed)).toEqual([]);

    const row = await parkedRow(yearZero);
    await expect(replayParked([String(row.id), '--payload', JSON.stringify(intake(yearZero))])).rejects.toThrow(/--payload is not accepted/);
    expect(await replayParked([String(row.id), '--payload-file', '-'], JSON.stringify(intake(yearZero)))).toContain(
      `Replayed parked event ${row.id} to ${topics.intakeReceived} with a corrected payload`,
    );
    await eventually(
      () => stack.client.workflow.getHandle(prescriptionWorkflowId(yearZero)).describe().then(() => true, () => false),
      (started) => started,
    );
  });

  it("an insurer's refusal quoting the patient's name and member ID parks the run with the status only", async () => {
    refused = `rx-${stack.runId}-refused`;
    Object.assign(insurer.faults, {
      failStatus: 422,
      failBody: { error: `member ${memberId} (${name}, born 1970-01-01) is not covered`, memberId, name },
      failUntil: Date.now() + 120_000,
    });
    await sendIntake(refused, JSON.stringify(intake(refused)));
    const handle = stack.client.workflow.getHandle(prescriptionWorkflowId(refused));
    const attention = await eventually(
      () => handle.query(attentionQuery).catch(() => undefined),
      (a) => a?.status === 'NeedsAttention',
      60_000,
    );
    Object.assign(insurer.faults, { failUntil: 0, failBody: undefined });
    expect(attention).toMatchObject({ failedStep: 'enrollPatient', lastError: 'insurer checkEligibility refused (422)' });

    // Every failure in the run's history, decrypted as the Web UI's codec server would show it.
    const history = await handle.fetchHistory();
    const failures = history.events!.flatMap((e) => [e.activityTaskFailedEventAttributes?.failure, e.workflowTaskFailedEventAttributes?.failure]);
    const encoded = payloadsIn(failures.filter(Boolean)) as unknown as Payload[];
    expect(encoded.length).toBeGreaterThan(0);
    const decoded = await new EncryptionCodec(ring).decode(encoded);
    const failureText = JSON.stringify(failures) + decoded.map((p) => Buffer.from(p.data ?? []).toString('utf8')).join('\n');
    expect(failureText).toContain('refused (422)');
    expect(mentionsPhi(failureText)).toEqual([]);
    expect(decoded.every((p) => p.metadata?.[METADATA_ENCODING_KEY] !== undefined)).toBe(true);
  });

  it('no parked reason and no log line of this run holds any of that PHI', async () => {
    const { rows } = await stack.db.query('SELECT reason FROM parked_events WHERE topic = $1', [topics.intakeReceived]);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(mentionsPhi(rows.map((r) => r.reason).join('\n'))).toEqual([]);

    const logFile = process.env.LOG_FILE!;
    expect(existsSync(logFile)).toBe(true);
    // The lines of this run are there (the bridge's parking, the SDK's activity failure) ...
    const read = async () => readFileSync(logFile, 'utf8');
    const hasBoth = (text: string) => text.includes(`corr-${notJson}`) && text.includes(`corr-${refused}`);
    const lines = await eventually(read, hasBoth, 20_000).catch(async (err: Error) => {
      // Once seen on CI and never here: say what the file held of this run, to find why.
      const ofThisRun = (await read()).split('\n').filter((l) => l.includes(stack.runId));
      throw new Error(`${err.message.slice(0, 80)}… The log file holds ${ofThisRun.length} lines of this run:\n${ofThisRun.map((l) => l.slice(0, 400)).join('\n')}`);
    });
    // ... and none of them holds the PHI.
    expect(mentionsPhi(lines)).toEqual([]);
  });

  it('the bridge deletes a parked intake once its retention has passed, and no other parked record', async () => {
    const other = await stack.db.query(
      `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason) VALUES ($1, 0, 1, 'kept') RETURNING id`,
      [`booking.events-${stack.runId}`],
    );
    await stack.parkedEvents.deleteExpired(new Date(Date.now() + 29 * 86_400_000));
    expect(await parkedRow(notJson)).toBeDefined();
    expect(await stack.parkedEvents.deleteExpired(new Date(Date.now() + 31 * 86_400_000))).toBeGreaterThanOrEqual(2);
    expect(await parkedRow(notJson)).toBeUndefined();
    expect((await stack.db.query('SELECT id FROM parked_events WHERE id = $1', [other.rows[0].id])).rows).toHaveLength(1);
  });
});
