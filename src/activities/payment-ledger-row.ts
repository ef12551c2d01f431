import type { PaymentStatus } from '../contracts/payment';
import type { PaymentPurpose } from '../contracts/payment-events';

/** A row of `payments` (migrations/007_payments.sql), as the payment API and the refund activities read it. */
export interface PaymentRow {
  payment_id: string;
  request_fingerprint: string;
  purpose: PaymentPurpose['kind'];
  student_id: string | null;
  course_id: string | null;
  prescription_id: string | null;
  link_id: string | null;
  amount_cents: number;
  currency: string;
  card_last4: string;
  status: PaymentStatus;
  provider_payment_id: string | null;
  decline_code: string | null;
  provider_refund_id: string | null;
  refund_reason: string | null;
  accepted_at: Date;
  charged_at: Date | null;
  refunded_at: Date | null;
}

/** The columns of a `PaymentRow`, for a SELECT or RETURNING that reads no more (not the run's order). */
const columns: Array<keyof PaymentRow> = [
  'payment_id', 'request_fingerprint', 'purpose', 'student_id', 'course_id', 'prescription_id', 'link_id', 'amount_cents',
  'currency', 'card_last4', 'status', 'provider_payment_id', 'decline_code', 'provider_refund_id', 'refund_reason',
  'accepted_at', 'charged_at', 'refunded_at',
];
export const paymentRowColumns = columns.join(', ');

/** What the payment pays for, from the row's columns (a CHECK keeps the purpose's own columns set). */
export function purposeOf(row: PaymentRow): PaymentPurpose {
  return row.purpose === 'course'
    ? { kind: 'course', studentId: row.student_id!, courseId: row.course_id! }
    : { kind: 'copay', prescriptionId: row.prescription_id!, linkId: row.link_id! };
}
