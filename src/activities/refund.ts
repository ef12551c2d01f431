import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { refundIdempotencyKey, type RecordedPayment, type RefundOutcome, type RefundRequest } from '../contracts/payment';
import { activityLogger } from '../logger';
import type { PaymentProviderClient } from '../partners/payment-provider';
import { paymentRowColumns, purposeOf, type PaymentRow } from './payment-ledger-row';

/**
 * What any process may ask of the payment ledger, on the payment pipeline's task queue (its
 * workers hold the provider's client and the `payments` table): a payment as recorded, and a refund.
 */
export interface RefundActivities {
  /** The payment as the ledger has it, or undefined when there is none (a forged or mistyped ID). */
  lookUpPayment(paymentId: string): Promise<RecordedPayment | undefined>;
  /**
   * Gives the whole payment back, once: the provider's idempotency key is derived from the payment,
   * and a payment already refunded answers that refund. A payment that was never charged, or that
   * the provider refuses to refund, is a non-retryable `RefundRefused`: it waits for a person.
   */
  refundPayment(request: RefundRequest): Promise<RefundOutcome>;
}

export const refundRefusedErrorType = 'RefundRefused';

export function createRefundActivities({ db, provider }: { db: Pool; provider: PaymentProviderClient }): RefundActivities {
  const find = async (paymentId: string) =>
    (await db.query<PaymentRow>(`SELECT ${paymentRowColumns} FROM payments WHERE payment_id = $1`, [paymentId])).rows[0];

  /** A charge the ledger never recorded: refunded at the provider, and the row (if any) says so. */
  async function refundUnrecordedCharge(paymentId: string, reason: string, charge: NonNullable<RefundRequest['charge']>): Promise<RefundOutcome> {
    const refund = await provider.refund({
      idempotencyKey: refundIdempotencyKey(paymentId),
      chargeId: charge.providerPaymentId,
      amountCents: charge.amountCents,
      reason,
    });
    await db.query(
      `UPDATE payments SET status = 'Refunded', provider_payment_id = $2, provider_refund_id = $3, refund_reason = $4, refunded_at = now()
        WHERE payment_id = $1 AND status = 'Accepted'`,
      [paymentId, charge.providerPaymentId, refund.refundId, reason],
    );
    activityLogger({ activity: 'refundPayment', paymentId }).info({ refundId: refund.refundId, reason }, 'Unrecorded charge refunded');
    return { paymentId, refundId: refund.refundId, amountCents: refund.amountCents, reason };
  }

  return {
    async lookUpPayment(paymentId) {
      const row = await find(paymentId);
      return row && recorded(row);
    },

    async refundPayment({ paymentId, reason, charge }) {
      const log = activityLogger({ activity: 'refundPayment', paymentId });
      const row = await find(paymentId);
      if (row?.status === 'Refunded') {
        return { paymentId, refundId: row.provider_refund_id!, amountCents: row.amount_cents, reason: row.refund_reason ?? reason };
      }
      if (charge && (!row || row.status === 'Accepted')) return refundUnrecordedCharge(paymentId, reason, charge);
      if (row?.status !== 'Charged') {
        throw ApplicationFailure.nonRetryable(
          `payment ${paymentId} cannot be refunded: ${row ? `it is ${row.status}` : 'the ledger has no such payment'}`,
          refundRefusedErrorType,
        );
      }
      const refund = await provider.refund({
        idempotencyKey: refundIdempotencyKey(paymentId),
        chargeId: row.provider_payment_id!,
        amountCents: row.amount_cents,
        reason,
      });
      await db.query(
        `UPDATE payments SET status = 'Refunded', provider_refund_id = $2, refund_reason = $3, refunded_at = now()
          WHERE payment_id = $1 AND status = 'Charged'`,
        [paymentId, refund.refundId, reason],
      );
      log.info({ refundId: refund.refundId, amountCents: refund.amountCents, reason }, 'Payment refunded');
      return { paymentId, refundId: refund.refundId, amountCents: refund.amountCents, reason };
    },
  };
}

function recorded(row: PaymentRow): RecordedPayment {
  return { paymentId: row.payment_id, status: row.status, purpose: purposeOf(row), amountCents: row.amount_cents, currency: row.currency };
}
