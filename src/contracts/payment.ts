import { defineQuery } from '@temporalio/workflow';
import type { TraceContext } from '../trace';
import type { PaymentPurpose, PaymentRequestBody } from './payment-events';

/**
 * Contract of the payment process (seed 002): one workflow per Idempotency-Key the payment API
 * accepted (started from the ledger by the bridges process), which charges the card through the provider, records the payment and announces
 * it to the process it pays for. Refunds run on this pipeline's task queue too, whoever asks for one.
 * The request schema is in ./payment-events, out of the workflow bundle.
 */
export type { PaymentPurpose, PaymentRequestBody };
export const paymentTaskQueue = 'payments';

/**
 * A payment's identity is its Idempotency-Key, hashed (the API's `paymentIdOf`): the same key
 * always names the same payment, whoever sends it and however often.
 */
const paymentPrefix = 'payment-';
export const paymentWorkflowId = (paymentId: string): string => `${paymentPrefix}${paymentId}`;
export const paymentIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(paymentPrefix) ? workflowId.slice(paymentPrefix.length) : undefined;

/** The refund run of a payment whose own process could not refund it (src/workflows/payment.ts). */
export const paymentRefundWorkflowId = (paymentId: string): string => `refund-${paymentId}`;

/** The provider's idempotency keys: one charge and at most one (full) refund per payment. */
export const chargeIdempotencyKey = (paymentId: string): string => `charge:${paymentId}`;
export const refundIdempotencyKey = (paymentId: string): string => `refund:${paymentId}`;

/** What the API hands the workflow: the request as accepted, under its payment ID. */
export interface PaymentOrder extends PaymentRequestBody {
  paymentId: string;
  acceptedAt: string;
  trace: TraceContext;
}

/** The payment's status, the same words in the `payments` table, the workflow and `GET /payments/:id`. */
export type PaymentStatus = 'Accepted' | 'Charged' | 'Declined' | 'Refunded';

export interface PaymentOutcome {
  paymentId: string;
  status: PaymentStatus;
  /** The provider's charge ID once charged (unique in `payments.provider_payment_id`). */
  providerPaymentId?: string;
  /** A decline's code, e.g. `insufficient_funds`. */
  declineCode?: string;
  refund?: RefundOutcome;
}
export const paymentStateQuery = defineQuery<PaymentOutcome>('paymentState');

/** A payment as the ledger (`payments`) has it, for a process that must check what it was paid. */
export interface RecordedPayment {
  paymentId: string;
  status: PaymentStatus;
  purpose: PaymentPurpose;
  amountCents: number;
  currency: string;
}

export interface RefundRequest {
  paymentId: string;
  /** Why, in words an operator and the provider's dashboard read: "second payment for prescription rx-1". */
  reason: string;
  /**
   * The charge, from the payment's own run: it refunds a charge whose recording in the ledger was
   * refused (the ledger cannot name a charge it never recorded). Other runs leave it out.
   */
  charge?: { providerPaymentId: string; amountCents: number };
}

export interface RefundOutcome {
  paymentId: string;
  refundId: string;
  amountCents: number;
  reason: string;
}

