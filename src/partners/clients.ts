import type { z } from 'zod';
import type { Config } from '../config';
import type { Address } from '../contracts/prescription-events';
import { callHttp } from '../http-call';
import {
  adjudicationSchema,
  eligibilitySchema,
  pharmacySelectionSchema,
  shippingLabelSchema,
  trackingUpdateSchema,
  type Adjudication,
  type Eligibility,
  type PharmacySelection,
  type ShippingLabel,
  type TrackingUpdate,
} from './responses';

/**
 * Typed HTTP clients of the outside systems prescription fulfillment calls (pharmacy network,
 * insurer, carrier), for its activities. A refusal is thrown non-retryable as `PartnerRefused`,
 * an outage as a retryable Error: the rule of src/http-call.ts, as for the admin service.
 */
export const partnerRefusedErrorType = 'PartnerRefused';

export interface PartnerClients {
  checkEligibility(req: { payerId: string; memberId: string }): Promise<Eligibility>;
  selectPharmacy(req: { prescriptionId: string; ndc: string; quantity: number; postalCode: string }): Promise<PharmacySelection>;
  adjudicateClaim(req: { claimId: string; payerId: string; memberId: string; ndc: string; quantity: number; pharmacyId: string }): Promise<Adjudication>;
  createShippingLabel(req: { shipmentId: string; pharmacyId: string; address: Address }): Promise<ShippingLabel>;
  trackShipment(trackingNumber: string): Promise<TrackingUpdate>;
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

interface Call<T> {
  partner: 'pharmacy' | 'insurer' | 'carrier';
  operation: keyof PartnerClients;
  url: URL;
  method: 'GET' | 'POST';
  body?: unknown;
  response: z.ZodType<T>;
}

export function createPartnerClients(options: PartnerClientOptions): PartnerClients {
  const call = <T>({ partner, operation, ...request }: Call<T>): Promise<T> =>
    callHttp({
      what: `${partner} ${operation}`,
      ...request,
      timeoutMs: options.timeoutMs,
      refusedType: partnerRefusedErrorType,
      refusalDetails: { partner, operation },
    });

  const pharmacy = (path: string) => new URL(path, options.pharmacyUrl);
  const insurer = (path: string) => new URL(path, options.insurerUrl);
  const carrier = (path: string) => new URL(path, options.carrierUrl);

  return {
    checkEligibility: ({ payerId, memberId }) =>
      call({ partner: 'insurer', operation: 'checkEligibility', url: insurer('/eligibility'), method: 'POST', body: { payerId, memberId }, response: eligibilitySchema }),
    selectPharmacy: ({ prescriptionId, ndc, quantity, postalCode }) =>
      call({
        partner: 'pharmacy',
        operation: 'selectPharmacy',
        url: pharmacy('/pharmacies/selection'),
        method: 'POST',
        body: { prescriptionId, ndc, quantity, postalCode },
        response: pharmacySelectionSchema,
      }),
    adjudicateClaim: ({ claimId, payerId, memberId, ndc, quantity, pharmacyId }) =>
      call({
        partner: 'insurer',
        operation: 'adjudicateClaim',
        url: insurer('/claims'),
        method: 'POST',
        body: { claimId, payerId, memberId, ndc, quantity, pharmacyId },
        response: adjudicationSchema,
      }),
    createShippingLabel: ({ shipmentId, pharmacyId, address }) =>
      call({
        partner: 'carrier',
        operation: 'createShippingLabel',
        url: carrier('/labels'),
        method: 'POST',
        body: { shipmentId, pharmacyId, address: { line1: address.line1, city: address.city, postalCode: address.postalCode, country: address.country } },
        response: shippingLabelSchema,
      }),
    trackShipment: (trackingNumber) =>
      call({ partner: 'carrier', operation: 'trackShipment', url: carrier(`/shipments/${encodeURIComponent(trackingNumber)}`), method: 'GET', response: trackingUpdateSchema }),
  };
}
