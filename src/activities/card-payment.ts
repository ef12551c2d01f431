import { ApplicationFailure } from '@temporalio/common';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { chargeIdempotencyKey, type PaymentOrder } from '../contracts/payment';
import { prescriptionTopics } from '../contracts/prescription';
import { paymentCompletedEventSchema } from '../contracts/prescription-events';
import { purchaseConfirmedTopic } from '../contracts/purchase';
import { purchaseConfirmedSchema } from '../contracts/purchase-events';
import { activityLogger } from '../logger';
import { cardDeclinedErrorType, type PaymentProviderClient } from '../partners/payment-provider';
import { currentTrace, eventHeaders } from '../trace-node';

export type ChargeResult =
  | { status: 'Charged'; providerPaymentId: string }
  /** A business outcome: the card was declined (`code`, e.g. insufficient_funds); nothing was taken. */
  | { status: 'Declined'; providerPaymentId: string; declineCode: string };

/** Where the payment announces itself; the consumers' topics unless a test gives its own. */
export interface PaymentEventTopics {
  purchaseConfirmed: string;
  paymentCompleted: string;
}
export const paymentEventTopics: PaymentEventTopics = {
  purchaseConfirmed: purchaseConfirmedTopic,
  paymentCompleted: prescriptionTopics.paymentCompleted,
};

export interface CardPaymentDependencies {
  db: Pool;
  /** Connects at its first send. */
  producer: Producer;
  provider: PaymentProviderClient;
  topics?: PaymentEventTopics;
}

/**
 * The payment workflow's steps, each idempotent on its own: the provider charges once per
 * idempotency key (derived from the payment ID), and the ledger row moves only forward.
 */
export function createCardPaymentActivities({ db, producer, provider, topics = paymentEventTopics }: CardPaymentDependencies) {
  return {
    /** Charges the card; a decline is answered, not thrown, because it is the payment's outcome. */
    async chargeCard(order: PaymentOrder): Promise<ChargeResult> {
      const { paymentId, amountCents, currency, card, purpose } = order;
      const log = activityLogger({ activity: 'chargeCard', paymentId });
      try {
        const charge = await provider.charge({
          idempotencyKey: chargeIdempotencyKey(paymentId),
          amountCents,
          currency,
          card,
          description: purpose.kind === 'course' ? `course ${purpose.courseId}` : `copay for prescription ${purpose.prescriptionId}`,
        });
        log.info({ providerPaymentId: charge.chargeId }, 'Card charged');
        return { status: 'Charged', providerPaymentId: charge.chargeId };
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || err.type !== cardDeclinedErrorType) throw err;
        const { code, chargeId } = (err.details?.[0] ?? {}) as { code: string; chargeId: string };
        log.info({ declineCode: code }, 'Card declined');
        return { status: 'Declined', providerPaymentId: chargeId, declineCode: code };
      }
    },

    async recordCharge({ paymentId, providerPaymentId }: { paymentId: string; providerPaymentId: string }): Promise<void> {
      const { rowCount } = await db.query(
        `UPDATE payments SET status = 'Charged', provider_payment_id = $2, charged_at = now()
          WHERE payment_id = $1 AND (status = 'Accepted' OR provider_payment_id = $2)
            AND status IN ('Accepted', 'Charged')`,
        [paymentId, providerPaymentId],
      );
      // Another charge recorded for this payment, or it was refunded already: this run must not
      // decide over it (an operator sees why).
      if (rowCount === 0) await refuseUnlessRecorded(db, paymentId, providerPaymentId, ['Charged', 'Refunded']);
    },

    async recordDecline({ paymentId, declineCode }: { paymentId: string; declineCode: string }): Promise<void> {
      await db.query(`UPDATE payments SET status = 'Declined', decline_code = $2 WHERE payment_id = $1 AND status = 'Accepted'`, [
        paymentId,
        declineCode,
      ]);
    },

    /**
     * Tells the process the payment is for, as the legacy payment service did: `purchase-confirmed`
     * for a course, `payment.completed` for a copay. Event IDs come from the payment, so a retry or
     * replay sends the same event and consumers drop the repeat.
     */
    async announcePayment(order: PaymentOrder & { chargedAt: string }): Promise<void> {
      const { paymentId, purpose, amountCents, currency, chargedAt } = order;
      const headers = eventHeaders();
      if (purpose.kind === 'course') {
        const event = purchaseConfirmedSchema.parse({
          type: 'PURCHASE_CONFIRMED',
          paymentId,
          studentId: purpose.studentId,
          courseId: purpose.courseId,
          amount: amountCents / 100,
          currency,
          confirmedAt: chargedAt,
        });
        await producer.send({ topic: topics.purchaseConfirmed, messages: [{ key: purpose.studentId, value: JSON.stringify(event), headers }] });
      } else {
        const event = paymentCompletedEventSchema.parse({
          type: 'PAYMENT_COMPLETED',
          eventId: `PAYMENT_COMPLETED:${paymentId}`,
          prescriptionId: purpose.prescriptionId,
          paymentId,
          linkId: purpose.linkId,
          amountCents,
          paidAt: chargedAt,
          correlationId: currentTrace()?.correlationId,
          occurredAt: chargedAt,
        });
        await producer.send({ topic: topics.paymentCompleted, messages: [{ key: purpose.prescriptionId, value: JSON.stringify(event), headers }] });
      }
      activityLogger({ activity: 'announcePayment', paymentId }).info(`Announced the ${purpose.kind} payment`);
    },
  };
}

export type CardPaymentActivities = ReturnType<typeof createCardPaymentActivities>;

/** The payment's row no longer takes this step's write: fine if an earlier attempt made it, a refusal otherwise. */
export async function refuseUnlessRecorded(db: Pool, paymentId: string, providerPaymentId: string, recorded: string[]): Promise<void> {
  const { rows } = await db.query<{ status: string; provider_payment_id: string | null }>(
    'SELECT status, provider_payment_id FROM payments WHERE payment_id = $1',
    [paymentId],
  );
  const row = rows[0];
  if (row && recorded.includes(row.status) && row.provider_payment_id === providerPaymentId) return;
  throw ApplicationFailure.nonRetryable(
    row
      ? `payment ${paymentId} is ${row.status} with provider charge ${row.provider_payment_id ?? 'none'}, not charge ${providerPaymentId}`
      : `payment ${paymentId} is not in the ledger`,
    'PaymentLedgerRefused',
  );
}
