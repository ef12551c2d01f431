import { nothingOwedPaymentId, type PaymentCompleted, type PaymentRequest } from '../contracts/prescription';
import { paymentCompletedEventSchema, paymentLinkCreatedSchema } from '../contracts/prescription-events';
import { setStatus } from './prescription';
import { createAuditedSteps, eventEnvelope, type AuditedStepDependencies } from './prescription-audit';

/**
 * Everything the fulfillment workflow asks of payments, behind one interface: a payment saga
 * (seed 002) can take these over without the workflow changing.
 */
export interface PaymentActivities {
  /**
   * What the patient owes, as a payment link that expires at `expiresAt`; nothing owed is recorded
   * as a payment of 0 and announced on `payment.completed`, like any other payment.
   */
  requestPayment(request: { prescriptionId: string; amountCents: number; expiresAt: string }): Promise<PaymentRequest>;
  /** The provider's `payment.completed` for the link. */
  recordPayment(payment: PaymentCompleted): Promise<void>;
  /** The link expired unpaid: it is closed and the prescription is not filled. */
  expirePaymentLink(request: { prescriptionId: string; linkId: string }): Promise<void>;
  /** The run was aborted with the link open: it is closed, and a payment through it from now on is refunded. */
  closePaymentLink(request: { prescriptionId: string; linkId: string }): Promise<void>;
  /** An operator aborted the run: its last audit row, naming what the abort gave back. */
  recordAbort(request: { prescriptionId: string; closedLinkId?: string; refundedPaymentIds: string[] }): Promise<void>;
}

export interface PaymentDependencies extends AuditedStepDependencies {
  /** Where patients pay; a link's URL is this plus its ID. */
  paymentLinkBaseUrl: string;
}

export function createPaymentActivities({ paymentLinkBaseUrl, ...deps }: PaymentDependencies): PaymentActivities {
  const step = createAuditedSteps(deps);

  return {
    async requestPayment({ prescriptionId, amountCents, expiresAt }) {
      if (amountCents === 0) {
        const paymentId = nothingOwedPaymentId(prescriptionId);
        const { detail } = await step.record(
          { prescriptionId, outcome: 'NothingOwed', detail: { paymentId, paidAt: new Date().toISOString() } },
          async (tx) => {
            await tx.query('UPDATE prescriptions SET payment_id = $2 WHERE prescription_id = $1', [prescriptionId, paymentId]);
            await setStatus(tx, prescriptionId, 'Paid');
          },
        );
        await step.emit('paymentCompleted', paymentCompletedEventSchema, {
          ...eventEnvelope('PAYMENT_COMPLETED', prescriptionId),
          paymentId,
          amountCents: 0,
          paidAt: detail.paidAt,
        });
        return { status: 'NothingOwed', paymentId };
      }
      const linkId = `link-${prescriptionId}`;
      const url = `${paymentLinkBaseUrl.replace(/\/$/, '')}/${linkId}`;
      const { detail } = await step.record(
        { prescriptionId, outcome: 'LinkCreated', detail: { linkId, url, amountCents, expiresAt } },
        async (tx) => {
          await tx.query('UPDATE prescriptions SET payment_link_id = $2 WHERE prescription_id = $1', [prescriptionId, linkId]);
          await setStatus(tx, prescriptionId, 'AwaitingPayment');
        },
      );
      await step.emit('paymentLinkCreated', paymentLinkCreatedSchema, { ...eventEnvelope('PAYMENT_LINK_CREATED', prescriptionId), ...detail });
      return { status: 'LinkCreated', linkId: detail.linkId, url: detail.url, expiresAt: detail.expiresAt };
    },

    async recordPayment(payment) {
      const { prescriptionId, paymentId, amountCents, paidAt } = payment;
      await step.record(
        { prescriptionId, outcome: 'Paid', detail: { paymentId, amountCents, paidAt } },
        async (tx) => {
          await tx.query('UPDATE prescriptions SET payment_id = $2 WHERE prescription_id = $1', [prescriptionId, paymentId]);
          await setStatus(tx, prescriptionId, 'Paid');
        },
      );
    },

    async expirePaymentLink({ prescriptionId, linkId }) {
      await step.record({ prescriptionId, outcome: 'Expired', detail: { linkId } }, (tx) =>
        setStatus(tx, prescriptionId, 'PaymentExpired'),
      );
    },

    async closePaymentLink({ prescriptionId, linkId }) {
      await step.record({ prescriptionId, outcome: 'Closed', detail: { linkId } }, async () => undefined);
    },

    async recordAbort({ prescriptionId, ...detail }) {
      await step.record({ prescriptionId, outcome: 'Aborted', detail }, async () => undefined);
    },
  };
}
