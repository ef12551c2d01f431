import { ApplicationFailure, asyncLocalStorage as activityContext } from '@temporalio/activity';
import { z } from 'zod';
import type { Config } from '../config';
import { currentCorrelationId } from '../trace-node';

/**
 * Typed HTTP clients of the outside systems prescription fulfillment calls (pharmacy network,
 * insurer, carrier), for its activities. How an answer becomes an activity outcome, as in
 * src/activities/allocation.ts:
 *   - 2xx: the body, checked against its schema;
 *   - a refusal (4xx other than 408 and 429): ApplicationFailure.nonRetryable of type
 *     `PartnerRefused`, so the step parks for an operator instead of retrying the same request;
 *   - no answer in time, no connection, 5xx, 408, 429, or a 2xx body we cannot read: a plain
 *     Error, which Temporal retries (an outage that ends needs nobody).
 * Messages name the partner, the operation and the status, plus the partner's own `error` text on
 * a refusal; never request fields, which hold personal data (member IDs, addresses).
 */
export const partnerRefusedErrorType = 'PartnerRefused';

export interface Address {
  line1: string;
  city: string;
  postalCode: string;
  country: string;
}

export interface PartnerClients {
  checkEligibility(req: { payerId: string; memberId: string }): Promise<{ eligible: true } | { eligible: false; reason: string }>;
  selectPharmacy(req: { prescriptionId: string; ndc: string; quantity: number; postalCode: string }): Promise<{ pharmacyId: string; name: string }>;
  adjudicateClaim(req: { claimId: string; payerId: string; memberId: string; ndc: string; quantity: number; pharmacyId: string }): Promise<
    { claimId: string; status: 'approved'; copayCents: number; paidCents: number } | { claimId: string; status: 'rejected'; reason: string }
  >;
  createShippingLabel(req: { shipmentId: string; pharmacyId: string; address: Address }): Promise<{
    shipmentId: string;
    carrier: string;
    trackingNumber: string;
    labelUrl: string;
  }>;
  trackShipment(trackingNumber: string): Promise<{ trackingNumber: string; status: 'label_created' | 'in_transit' | 'delivered'; deliveredAt?: string }>;
}

export interface PartnerClientOptions {
  pharmacyUrl: string;
  insurerUrl: string;
  carrierUrl: string;
  /** Per HTTP call. */
  timeoutMs: number;
}

export const partnerClientOptions = (config: Config): PartnerClientOptions => ({
  pharmacyUrl: config.PHARMACY_SERVICE_URL,
  insurerUrl: config.INSURER_SERVICE_URL,
  carrierUrl: config.CARRIER_SERVICE_URL,
  timeoutMs: config.PARTNER_CALL_TIMEOUT_MS,
});

const eligibilityResponse = z.discriminatedUnion('eligible', [
  z.object({ eligible: z.literal(true) }),
  z.object({ eligible: z.literal(false), reason: z.string().min(1) }),
]);
const pharmacyResponse = z.object({ pharmacyId: z.string().min(1), name: z.string().min(1) });
const claimResponse = z.discriminatedUnion('status', [
  z.object({
    claimId: z.string().min(1),
    status: z.literal('approved'),
    copayCents: z.number().int().nonnegative(),
    paidCents: z.number().int().nonnegative(),
  }),
  z.object({ claimId: z.string().min(1), status: z.literal('rejected'), reason: z.string().min(1) }),
]);
const labelResponse = z.object({
  shipmentId: z.string().min(1),
  carrier: z.string().min(1),
  trackingNumber: z.string().min(1),
  labelUrl: z.string().min(1),
});
const trackingResponse = z.object({
  trackingNumber: z.string().min(1),
  status: z.enum(['label_created', 'in_transit', 'delivered']),
  deliveredAt: z.string().min(1).optional(),
});

interface Call<T> {
  partner: 'pharmacy' | 'insurer' | 'carrier';
  operation: keyof PartnerClients;
  url: URL;
  method: 'GET' | 'POST';
  body?: unknown;
  response: z.ZodType<T>;
}

export function createPartnerClients(options: PartnerClientOptions): PartnerClients {
  async function call<T>({ partner, operation, url, method, body, response: schema }: Call<T>): Promise<T> {
    const what = `${partner} ${operation}`;
    const correlationId = currentCorrelationId();
    // Inside an activity, a cancelled activity also stops its call; tests call the clients directly.
    const cancelled = activityContext.getStore()?.cancellationSignal;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json', ...(correlationId ? { 'correlation-id': correlationId } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: cancelled ? AbortSignal.any([cancelled, timeout]) : timeout,
      });
    } catch (err) {
      if (cancelled?.aborted) throw err;
      if (timeout.aborted) throw new Error(`${what}: no answer within ${options.timeoutMs} ms`);
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Error(`${what}: could not reach ${url.origin} (${cause})`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch {
      if (cancelled?.aborted) throw cancelled.reason;
      throw new Error(`${what}: answer ${response.status} cut off${timeout.aborted ? ` after ${options.timeoutMs} ms` : ''}`);
    }
    const { status } = response;
    const reason = errorText(text);
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      throw ApplicationFailure.create({
        type: partnerRefusedErrorType,
        nonRetryable: true,
        message: `${what} refused (${status})${reason ? `: ${reason}` : ''}`,
        details: [{ partner, operation, status }],
      });
    }
    if (!response.ok) throw new Error(`${what} answered ${status}${reason ? `: ${reason}` : ''}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${what} answered ${status} with a body that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new Error(`${what} answered ${status} with an unexpected body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  }

  const pharmacy = (path: string) => new URL(path, options.pharmacyUrl);
  const insurer = (path: string) => new URL(path, options.insurerUrl);
  const carrier = (path: string) => new URL(path, options.carrierUrl);

  return {
    checkEligibility: ({ payerId, memberId }) =>
      call({ partner: 'insurer', operation: 'checkEligibility', url: insurer('/eligibility'), method: 'POST', body: { payerId, memberId }, response: eligibilityResponse }),
    selectPharmacy: ({ prescriptionId, ndc, quantity, postalCode }) =>
      call({
        partner: 'pharmacy',
        operation: 'selectPharmacy',
        url: pharmacy('/pharmacies/selection'),
        method: 'POST',
        body: { prescriptionId, ndc, quantity, postalCode },
        response: pharmacyResponse,
      }),
    adjudicateClaim: ({ claimId, payerId, memberId, ndc, quantity, pharmacyId }) =>
      call({
        partner: 'insurer',
        operation: 'adjudicateClaim',
        url: insurer('/claims'),
        method: 'POST',
        body: { claimId, payerId, memberId, ndc, quantity, pharmacyId },
        response: claimResponse,
      }),
    createShippingLabel: ({ shipmentId, pharmacyId, address }) =>
      call({
        partner: 'carrier',
        operation: 'createShippingLabel',
        url: carrier('/labels'),
        method: 'POST',
        body: { shipmentId, pharmacyId, address: { line1: address.line1, city: address.city, postalCode: address.postalCode, country: address.country } },
        response: labelResponse,
      }),
    trackShipment: (trackingNumber) =>
      call({ partner: 'carrier', operation: 'trackShipment', url: carrier(`/shipments/${encodeURIComponent(trackingNumber)}`), method: 'GET', response: trackingResponse }),
  };
}

/** The partner's `error` text, if its body has one; never the raw body, which may echo the request. */
function errorText(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    return typeof error === 'string' ? error.slice(0, 200) : '';
  } catch {
    return '';
  }
}
