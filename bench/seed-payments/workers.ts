/**
 * Seed 002's workers, seed-style, for `npm run bench:payments`: the outbox worker (./outbox.ts)
 * and the command worker in one process (the seed runs them as two; one keeps the comparison
 * with the project's one worker process simple). The command worker consumes
 * `payment.commands.process` through the legacy framework of bench/seed-worker (retries with
 * backoff, then the dead-letter topic), charges the card through the same provider stand-in and
 * client as the project, and records the charge in one transaction with its announcement, a
 * course's `purchase-confirmed` (the benchmark pays only for courses), which goes out at the
 * outbox's next poll. Not the project's code.
 */
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../src/config';
import { chargeIdempotencyKey } from '../../src/contracts/payment';
import { purchaseConfirmedTopic } from '../../src/contracts/purchase';
import { createKafka, createPool, createProducer } from '../../src/connections';
import { logger } from '../../src/logger';
import { cardDeclinedErrorType, createPaymentProviderClient, paymentProviderOptions } from '../../src/partners/payment-provider';
import { inTransaction, NonRetryable, runWorker, type SeedWorker } from '../seed-worker/framework';
import { paymentCommandsTopic, runOutboxWorker, type ProcessPaymentCommand } from './outbox';

async function main(): Promise<void> {
  const config = loadConfig();
  const kafka = createKafka(config, 'seed-payment-workers');
  const producer = createProducer(kafka);
  await producer.connect();
  // The command topic's 3 partitions at once, and the outbox poll.
  const db = createPool(config, { max: 5 });
  const provider = createPaymentProviderClient(paymentProviderOptions(config));
  const log = logger.child({ worker: 'seed-payments' });

  const commandWorker: SeedWorker = {
    group: 'payment-command-worker',
    topics: [paymentCommandsTopic],
    maxAttempts: 5,
    critical: true,
    async handle(_topic, event) {
      const command = event as ProcessPaymentCommand;
      const { paymentId, amountCents, currency, card, purpose } = command;
      let charge;
      try {
        charge = await provider.charge({ idempotencyKey: chargeIdempotencyKey(paymentId), amountCents, currency, card });
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === cardDeclinedErrorType) {
          const { code } = (err.details?.[0] ?? {}) as { code?: string };
          await db.query(`UPDATE payments SET status = 'Declined', decline_code = $2 WHERE payment_id = $1 AND status = 'Accepted'`, [paymentId, code]);
          return;
        }
        // Another refusal: retrying the same request gets the same answer.
        if (err instanceof ApplicationFailure && err.nonRetryable) throw new NonRetryable(err.message);
        throw err;
      }
      await inTransaction(db, async (tx) => {
        const { rowCount } = await tx.query(
          `UPDATE payments SET status = 'Charged', provider_payment_id = $2, charged_at = now() WHERE payment_id = $1 AND status = 'Accepted'`,
          [paymentId, charge.chargeId],
        );
        // A redelivered command finds the payment charged and announced already.
        if (rowCount === 0 || purpose.kind !== 'course') return;
        const announcement = {
          type: 'PURCHASE_CONFIRMED',
          paymentId,
          studentId: purpose.studentId,
          courseId: purpose.courseId,
          amount: amountCents / 100,
          currency,
          confirmedAt: new Date().toISOString(),
        };
        await tx.query('INSERT INTO outbox_events (topic, event_key, payload) VALUES ($1, $2, $3)', [purchaseConfirmedTopic, purpose.studentId, announcement]);
      });
      log.info({ paymentId }, 'Payment processed');
    },
  };

  let running = true;
  const consumer = await runWorker(kafka, producer, commandWorker);
  const outbox = runOutboxWorker(db, producer, log, () => running);
  log.info('Seed-style outbox and command workers started');

  const stop = async () => {
    running = false;
    await consumer.disconnect();
    await outbox;
    await producer.disconnect();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger.fatal({ err }, 'Seed-style payment workers failed');
  process.exit(1);
});
