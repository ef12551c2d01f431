import { randomInt } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';
import type { ShippingLabel, TrackingUpdate } from '../../src/partners/responses';
import { createStandIn, ensureTables, HttpError, parse, type StandIn } from '../http';

/**
 * Stand-in for the carrier (shipping labels and tracking).
 *
 *   POST /labels                      { shipmentId, pharmacyId, address: { line1, city, postalCode, country } }
 *                                     -> 200 { shipmentId, carrier, trackingNumber, labelUrl }
 *                                     -> 409 when the shipmentId has a label from another pharmacy
 *   GET  /labels/:trackingNumber      the label (what labelUrl points at)
 *   GET  /shipments/:trackingNumber   -> 200 { trackingNumber, status, deliveredAt? }; 404 when unknown
 *   POST /control/delivery            { inTransitAfterMs?, deliveredAfterMs? }: timing of labels created from now on
 *   GET  /control/delivery            the current timing
 *
 * Rules: one label per shipmentId (asking again returns it). A shipment is `label_created`, then
 * `in_transit` inTransitAfterMs after its label, then `delivered` deliveredAfterMs after it
 * (defaults 2 s and 5 s, so the demo shows a delivery), with deliveredAt the moment it became so.
 * A label to postal code 99999 never gets delivered (for deadline tests). Each label keeps the
 * timing it was created with, so status only ever advances, also across restarts.
 * The address is used for that one rule and never stored or logged.
 */
export const carrierSchema = `
CREATE TABLE IF NOT EXISTS partner_carrier_labels (
  shipment_id         text PRIMARY KEY,
  pharmacy_id         text NOT NULL,
  tracking_number     text NOT NULL UNIQUE,
  never_delivered     boolean NOT NULL,
  in_transit_after_ms integer NOT NULL,
  delivered_after_ms  integer NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now()
);
`;

export const carrierName = 'LocalPost';
export const undeliverablePostalCode = '99999';

export interface DeliveryTiming {
  inTransitAfterMs: number;
  deliveredAfterMs: number;
}

const labelRequest = z.object({
  shipmentId: z.string().min(1),
  pharmacyId: z.string().min(1),
  address: z.object({
    line1: z.string().min(1),
    city: z.string().min(1),
    postalCode: z.string().min(1),
    country: z.string().min(1),
  }),
});
const deliveryRequest = z.object({
  inTransitAfterMs: z.number().int().nonnegative().optional(),
  deliveredAfterMs: z.number().int().nonnegative().optional(),
});

export const ensureCarrierSchema = (db: Pool) => ensureTables(db, 727_303, carrierSchema);

export interface CarrierService extends StandIn {
  delivery: DeliveryTiming;
}

export function createCarrierService(db: Pool): CarrierService {
  const log = logger.child({ component: 'carrier-service' });
  const delivery: DeliveryTiming = { inTransitAfterMs: 2_000, deliveredAfterMs: 5_000 };
  const labelUrl = (origin: string, trackingNumber: string) => `${origin}/labels/${encodeURIComponent(trackingNumber)}`;

  async function createLabel(body: unknown, origin: string) {
    const { shipmentId, pharmacyId, address } = parse(labelRequest, body);
    const trackingNumber = `LP${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e3)).padStart(3, '0')}`;
    const { rows } = await db.query<{ pharmacy_id: string; tracking_number: string; repeated: boolean }>(
      `INSERT INTO partner_carrier_labels
         (shipment_id, pharmacy_id, tracking_number, never_delivered, in_transit_after_ms, delivered_after_ms)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (shipment_id) DO UPDATE SET shipment_id = EXCLUDED.shipment_id
       RETURNING pharmacy_id, tracking_number, (xmax::text <> '0') AS repeated`,
      [shipmentId, pharmacyId, trackingNumber, address.postalCode.trim() === undeliverablePostalCode,
        delivery.inTransitAfterMs, delivery.deliveredAfterMs],
    );
    const row = rows[0]!;
    if (row.pharmacy_id !== pharmacyId) throw new HttpError(409, `shipment ${shipmentId} has a label from another pharmacy`);
    log.info({ shipmentId, pharmacyId, trackingNumber: row.tracking_number, repeated: row.repeated }, 'Label created');
    return {
      status: 200,
      body: { shipmentId, carrier: carrierName, trackingNumber: row.tracking_number, labelUrl: labelUrl(origin, row.tracking_number) } satisfies ShippingLabel,
    };
  }

  async function track(trackingNumber: string) {
    const { rows } = await db.query<{ status: TrackingUpdate['status']; delivered_at: Date }>(
      `SELECT CASE
                WHEN NOT never_delivered AND now() >= created_at + delivered_after_ms * interval '1 millisecond' THEN 'delivered'
                WHEN now() >= created_at + in_transit_after_ms * interval '1 millisecond' THEN 'in_transit'
                ELSE 'label_created'
              END AS status,
              created_at + delivered_after_ms * interval '1 millisecond' AS delivered_at
         FROM partner_carrier_labels WHERE tracking_number = $1`,
      [trackingNumber],
    );
    const row = rows[0];
    if (!row) throw new HttpError(404, `no shipment with tracking number ${trackingNumber}`);
    return {
      status: 200,
      body: { trackingNumber, status: row.status, ...(row.status === 'delivered' ? { deliveredAt: row.delivered_at.toISOString() } : {}) } satisfies TrackingUpdate,
    };
  }

  async function label(trackingNumber: string) {
    const { rows } = await db.query<{ shipment_id: string }>(
      'SELECT shipment_id FROM partner_carrier_labels WHERE tracking_number = $1',
      [trackingNumber],
    );
    if (!rows[0]) throw new HttpError(404, `no label with tracking number ${trackingNumber}`);
    return { status: 200, body: { carrier: carrierName, trackingNumber, shipmentId: rows[0].shipment_id } };
  }

  const service = createStandIn('carrier', db, {
    business: (req) => {
      if (req.method === 'POST' && req.pathname === '/labels') return async () => createLabel(await req.json(), req.origin);
      const shipment = /^\/shipments\/([^/]+)$/.exec(req.pathname);
      if (req.method === 'GET' && shipment) return () => track(decodeURIComponent(shipment[1]!));
      const labelPath = /^\/labels\/([^/]+)$/.exec(req.pathname);
      if (req.method === 'GET' && labelPath) return () => label(decodeURIComponent(labelPath[1]!));
      return undefined;
    },
    control: (req) => {
      if (req.pathname !== '/control/delivery') return undefined;
      return async () => {
        if (req.method === 'POST') {
          const next = { ...delivery, ...parse(deliveryRequest, await req.json()) };
          if (next.deliveredAfterMs < next.inTransitAfterMs) throw new HttpError(400, 'deliveredAfterMs must not be below inTransitAfterMs');
          Object.assign(delivery, next);
        } else if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
        return { status: 200, body: delivery };
      };
    },
  }, log);
  return Object.assign(service, { delivery });
}
