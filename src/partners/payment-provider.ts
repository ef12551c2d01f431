import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import type { Config } from '../config';
import { callHttp } from '../http-call';
import { describeProblems } from '../schema-problems';
import { partnerRefusedErrorType } from './clients';
import { cardDeclineSchema, chargeSchema, refundSchema, type Charge, type Refund } from './responses';

/**
 * The typed client of the card processor (stand-ins/payment-provider locally), for the payment
 * pipeline's activities. Its answers become outcomes as for every partner (src/http-call.ts):
 *   - 402, a declined card: ApplicationFailure.nonRetryable of type `CardDeclined`, details
 *     [{ code, chargeId }]: a business outcome (the payment is declined), not an outage to retry;
 *   - any other refusal (409: the key was used with another request; 404/422: a refund refused):
 *     a non-retryable `PartnerRefused`;
 *   - no answer in time, 5xx, 429: a retryable Error.
 * Every call that moves money takes the idempotency key: a caller that derives it from its own
 * payment (the workflow, from the payment ID) can retry any of these without charging twice.
 */
export const cardDeclinedErrorType = 'CardDeclined';

export interface ChargeRequest {
  idempotencyKey: string;
  amountCents: number;
  /** ISO 4217, in capitals: USD. */
  currency: string;
  /** The card number. */
  card: string;
  description?: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amountCents: number;
  reason?: string;
}

export interface PaymentProviderClient {
  charge(req: ChargeRequest): Promise<Charge>;
  refund(req: RefundRequest): Promise<Refund>;
  getCharge(chargeId: string): Promise<Charge>;
}

export interface PaymentProviderOptions {
  url: string;
  /** Per HTTP call. */
  timeoutMs: number;
}

export const paymentProviderOptions = (config: Config): PaymentProviderOptions => ({
  url: config.PAYMENT_PROVIDER_URL,
  timeoutMs: config.PARTNER_CALL_TIMEOUT_MS,
});

interface Call<T> {
  operation: keyof PaymentProviderClient;
  path: string;
  method: 'GET' | 'POST';
  idempotencyKey?: string;
  body?: unknown;
  response: z.ZodType<T>;
}

export function createPaymentProviderClient(options: PaymentProviderOptions): PaymentProviderClient {
  const call = <T>({ operation, path, idempotencyKey, ...request }: Call<T>): Promise<T> => {
    const what = `payment-provider ${operation}`;
    return callHttp({
      what,
      url: new URL(path, options.url),
      ...request,
      headers: idempotencyKey === undefined ? undefined : { 'idempotency-key': idempotencyKey },
      outcomes: {
        402: (body) => {
          const decline = cardDeclineSchema.safeParse(body);
          if (!decline.success) return new Error(`${what} answered 402 with an unexpected body: ${describeProblems(decline.error)}`);
          const { code, message, chargeId } = decline.data;
          return ApplicationFailure.create({
            type: cardDeclinedErrorType,
            nonRetryable: true,
            message: `${what}: card declined (${code}): ${message}`,
            details: [{ code, chargeId }],
          });
        },
      },
      timeoutMs: options.timeoutMs,
      refusedType: partnerRefusedErrorType,
      refusalDetails: { partner: 'payment-provider', operation },
    });
  };

  return {
    charge: ({ idempotencyKey, amountCents, currency, card, description }) =>
      call({ operation: 'charge', path: '/charges', method: 'POST', idempotencyKey, body: { amountCents, currency, card, description }, response: chargeSchema }),
    refund: ({ idempotencyKey, chargeId, amountCents, reason }) =>
      call({ operation: 'refund', path: '/refunds', method: 'POST', idempotencyKey, body: { chargeId, amountCents, reason }, response: refundSchema }),
    getCharge: (chargeId) =>
      call({ operation: 'getCharge', path: `/charges/${encodeURIComponent(chargeId)}`, method: 'GET', response: chargeSchema }),
  };
}
