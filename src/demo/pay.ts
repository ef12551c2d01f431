import { setTimeout as sleep } from 'node:timers/promises';
import type { PaymentRequestBody } from '../contracts/payment-events';
import type { Config } from '../config';

/** The payment API's answer, as the demo reads it. */
export interface AcceptedPayment {
  paymentId: string;
  status: string;
}

/**
 * Pays as a client of the payment API does: POST /payments under an Idempotency-Key, sent again
 * with the same key when the API does not answer or answers 5xx (a payment API that restarts must
 * not make anyone pay twice).
 */
export async function pay(config: Config, idempotencyKey: string, body: PaymentRequestBody): Promise<AcceptedPayment> {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(new URL('/payments', config.PAYMENT_API_URL), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      if (response.status === 202) return (await response.json()) as AcceptedPayment;
      if (response.status < 500) throw new Error(`payment API answered ${response.status}: ${await response.text()}`);
    } catch (err) {
      if (attempt >= 10 || (err instanceof Error && err.message.startsWith('payment API answered'))) throw err;
    }
    await sleep(1_000);
  }
}

/** The payment as the ledger has it (GET /payments/:id). */
export async function paymentStatus(config: Config, paymentId: string): Promise<{ status: string; declineCode?: string; refund?: { reason: string } } | undefined> {
  const response = await fetch(new URL(`/payments/${paymentId}`, config.PAYMENT_API_URL)).catch(() => undefined);
  return response?.ok ? ((await response.json()) as { status: string }) : undefined;
}

/** Test cards of the provider stand-in (stand-ins/payment-provider). */
export const demoCards = { charged: '4242424242424242', declined: '4000000000000002' };
