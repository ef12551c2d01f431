import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer, createTemporalClient } from '../connections';
import { bookingCancellationsTopic, bookingEventsTopic, bookingWorkflowId } from '../contracts/booking';
import { printPrescriptionOutcomes, publishDemoPrescriptions } from './prescriptions';
import { printPurchaseOutcomes, publishDemoPurchases } from './purchases';

/**
 * A demo stream for `npm start`: what the legacy booking service emits on a busy minute,
 * including the awkward parts (duplicates, a cancellation before its booking, a stranger's
 * cancellation, an unknown room, a malformed event). Prints how each booking ended.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  const producer = createProducer(createKafka(config, 'demo-producer'));
  await producer.connect();

  const run = randomUUID().slice(0, 6);
  await db.query(
    `INSERT INTO users (user_ref, email, username) VALUES
       ('user_123', 'ada@example.com', 'ada'), ('user_456', 'grace@example.com', 'grace')
     ON CONFLICT DO NOTHING`,
  );
  await db.query(
    `INSERT INTO rooms (internal_id, name) VALUES ('room_ocean_001', 'Ocean view'), ('room_garden_002', 'Garden')
     ON CONFLICT DO NOTHING`,
  );

  const booking = (n: number, userId: string, roomId = 'room_ocean_001') => ({
    userId,
    roomId,
    guests: 2,
    startDate: '2031-01-15T15:00:00Z',
    endDate: '2031-01-18T11:00:00Z',
    bookingId: `booking_${run}_${n}`,
    paymentId: `pay_${run}_${n}`,
  });
  const cancel = (n: number, userId: string) => ({
    bookingId: `booking_${run}_${n}`,
    userId,
    timestamp: new Date().toISOString(),
  });
  const send = (topic: string, n: number, value: object | string) =>
    producer.send({
      topic,
      messages: [
        {
          key: `booking_${run}_${n}`,
          value: typeof value === 'string' ? value : JSON.stringify(value),
          headers: { 'correlation-id': `demo-${run}-${n}`, baggage: `demo.run=${run},tenant=acme` },
        },
      ],
    });

  const stories: Record<number, string> = {};
  stories[1] = 'booked (delivered 3 times)';
  for (let i = 0; i < 3; i++) await send(bookingEventsTopic, 1, booking(1, 'user_123'));
  stories[2] = 'booked by email, then cancelled by its owner';
  await send(bookingEventsTopic, 2, booking(2, 'grace@example.com', 'room_garden_002'));
  await send(bookingCancellationsTopic, 2, cancel(2, 'grace'));
  stories[3] = 'cancellation arrived before the booking';
  await send(bookingCancellationsTopic, 3, cancel(3, 'user_123'));
  await send(bookingEventsTopic, 3, booking(3, 'user_123'));
  stories[4] = 'a stranger tried to cancel it';
  await send(bookingEventsTopic, 4, booking(4, 'user_123'));
  await send(bookingCancellationsTopic, 4, cancel(4, 'user_456'));
  stories[5] = 'unknown room';
  await send(bookingEventsTopic, 5, booking(5, 'user_123', 'room_missing_999'));
  stories[6] = 'malformed event (parked for an operator)';
  await send(bookingEventsTopic, 6, '{"bookingId": "oops"');

  const purchaseStories = await publishDemoPurchases(producer, run);
  const prescriptionStories = await publishDemoPrescriptions(producer, run);

  console.log(`\nDemo run ${run}: published booking events; waiting for the pipeline...\n`);
  const ids = Object.keys(stories).map((n) => `booking_${run}_${n}`);
  let rows: Array<{ booking_id: string; status: string; rejection_reason: string | null }> = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    rows = (
      await db.query('SELECT booking_id, status, rejection_reason FROM bookings WHERE booking_id = ANY($1)', [ids])
    ).rows;
    if (rows.length >= 5 && rows.some((r) => r.booking_id.endsWith('_2') && r.status === 'Cancelled') &&
        rows.some((r) => r.booking_id.endsWith('_3') && r.status === 'Cancelled')) break;
    await sleep(500);
  }
  const parked = (
    await db.query(`SELECT id, reason FROM parked_events WHERE correlation_id = $1`, [`demo-${run}-6`])
  ).rows;

  for (const [n, story] of Object.entries(stories)) {
    const id = `booking_${run}_${n}`;
    const row = rows.find((r) => r.booking_id === id);
    let outcome = 'pending';
    if (row) outcome = row.rejection_reason ? `${row.status} (${row.rejection_reason})` : row.status;
    else if (n === '6' && parked[0]) outcome = `parked #${parked[0].id}: ${parked[0].reason}`;
    console.log(`  ${id.padEnd(24)} ${story.padEnd(46)} -> ${outcome}`);
  }
  console.log('\nPurchases: each confirmation ends with sessions scheduled, as a no-op, or parked for an operator:\n');
  const client = await createTemporalClient(config);
  await printPurchaseOutcomes(client, db, purchaseStories);
  console.log('\nPrescriptions: each intake ends delivered or in the business outcome that stopped it:\n');
  await printPrescriptionOutcomes(client, producer, run, prescriptionStories);
  const parkedIntake = (await db.query(`SELECT id, reason FROM parked_events WHERE correlation_id = $1`, [`demo-${run}-rx7`])).rows[0];
  console.log(`  ${`rx_${run}_7`.padEnd(24)} ${'malformed intake (parked for an operator)'.padEnd(46)} -> ${parkedIntake ? `parked #${parkedIntake.id}: ${parkedIntake.reason.slice(0, 90)}…` : 'pending'}`);
  console.log(`  Audit log: psql ... -c "SELECT prescription_id, step, outcome, recorded_at FROM prescription_audit_log WHERE prescription_id LIKE 'rx_${run}_%' ORDER BY id"`);
  await client.connection.close();

  console.log(`\nTemporal Web UI: ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows`);
  console.log(`  e.g. ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${bookingWorkflowId(ids[1]!)}`);
  // Secrets never reach the terminal or its scrollback: psql takes the password from PGPASSWORD or asks.
  const database = new URL(config.DATABASE_URL);
  database.password = '';
  console.log(`Parked events: psql "${database}" -c 'SELECT id, topic, reason FROM parked_events WHERE replayed_at IS NULL'`);
  console.log(`  (the password is the one in DATABASE_URL: export it as PGPASSWORD or type it when psql asks)\n`);

  await producer.disconnect();
  await db.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
