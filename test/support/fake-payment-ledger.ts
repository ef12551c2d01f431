import type { Pool } from 'pg';
import type { PaymentRequestBody } from '../../src/contracts/payment';
import { requestFingerprint } from '../../src/payment-api/server';

/**
 * A payments ledger for the payment API's unit tests: every INSERT writes the row for a course
 * payment of `body` (so the same key is always the same request), an UPDATE changes nothing, and
 * `waiting` payments wait for their run's start. `queries` holds each call's parameters, in order.
 */
export function fakePaymentLedger(body: PaymentRequestBody): { db: Pool; queries: unknown[][]; ledger: { waiting: number } } {
  const queries: unknown[][] = [];
  const ledger = { waiting: 0 };
  const db = {
    query: async (sql: string, params: unknown[] = []) => {
      queries.push(params);
      if (sql.startsWith('UPDATE')) return { rows: [] };
      if (sql.includes('count(*)')) return { rows: [{ n: String(ledger.waiting) }] };
      return {
        rows: [
          {
            payment_id: params[0],
            request_fingerprint: requestFingerprint(body),
            purpose: 'course',
            student_id: 's-1',
            course_id: 'c-1',
            amount_cents: body.amountCents,
            currency: body.currency,
            card_last4: body.card.slice(-4),
            status: 'Accepted',
            accepted_at: new Date(),
          },
        ],
      };
    },
  } as unknown as Pool;
  return { db, queries, ledger };
}
