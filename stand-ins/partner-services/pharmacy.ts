import type { Pool } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';
import type { PharmacySelection } from '../../src/partners/responses';
import { pharmacies } from './catalogue';
import { createStandIn, ensureTables, HttpError, parse, type StandIn } from '../http';

/**
 * Stand-in for the pharmacy network (routing a prescription to a pharmacy that can fill it).
 *
 *   POST /pharmacies/selection  { prescriptionId, ndc, quantity, postalCode }
 *                               -> 200 { pharmacyId, name }
 *                               -> 422 { error } when no pharmacy stocks the NDC (see catalogue.ts)
 *
 * Rules: among the pharmacies that stock the NDC, the postal code's digits pick one, so different
 * areas get different pharmacies; the first selection for a prescriptionId is stored and returned
 * again for that prescription whatever the later request says (a retried call is safe).
 * The postal code is used for the choice and never stored or logged.
 */
export const pharmacySchema = `
CREATE TABLE IF NOT EXISTS partner_pharmacy_selections (
  prescription_id text PRIMARY KEY,
  pharmacy_id     text NOT NULL,
  ndc             text NOT NULL,
  quantity        integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
`;

const selectionRequest = z.object({
  prescriptionId: z.string().min(1),
  ndc: z.string().min(1),
  quantity: z.number().int().positive(),
  postalCode: z.string().min(1),
});

export const ensurePharmacySchema = (db: Pool) => ensureTables(db, 727_301, pharmacySchema);

function choose(ndc: string, postalCode: string) {
  const stocking = pharmacies.filter((p) => p.stocks.includes(ndc));
  const digits = [...postalCode].reduce((sum, c) => sum + (c >= '0' && c <= '9' ? Number(c) : 0), 0);
  return stocking[digits % stocking.length];
}

export function createPharmacyService(db: Pool): StandIn {
  const log = logger.child({ component: 'pharmacy-service' });
  return createStandIn('pharmacy', db, {
    business: (req) => {
      if (req.method !== 'POST' || req.pathname !== '/pharmacies/selection') return undefined;
      return async () => {
        const { prescriptionId, ndc, quantity, postalCode } = parse(selectionRequest, await req.json());
        const existing = await db.query<{ pharmacy_id: string }>(
          'SELECT pharmacy_id FROM partner_pharmacy_selections WHERE prescription_id = $1',
          [prescriptionId],
        );
        let pharmacyId = existing.rows[0]?.pharmacy_id;
        if (!pharmacyId) {
          const chosen = choose(ndc, postalCode);
          if (!chosen) {
            log.info({ prescriptionId, ndc }, 'No pharmacy stocks the NDC');
            throw new HttpError(422, `no pharmacy stocks NDC ${ndc}`);
          }
          // Two concurrent first requests: whichever insert wins is the answer for both.
          const inserted = await db.query<{ pharmacy_id: string }>(
            `INSERT INTO partner_pharmacy_selections (prescription_id, pharmacy_id, ndc, quantity) VALUES ($1, $2, $3, $4)
             ON CONFLICT (prescription_id) DO UPDATE SET prescription_id = EXCLUDED.prescription_id
             RETURNING pharmacy_id`,
            [prescriptionId, chosen.pharmacyId, ndc, quantity],
          );
          pharmacyId = inserted.rows[0]!.pharmacy_id;
        }
        const pharmacy = pharmacies.find((p) => p.pharmacyId === pharmacyId);
        if (!pharmacy) throw new Error(`stored pharmacy ${pharmacyId} is not in the catalogue`);
        log.info({ prescriptionId, pharmacyId, repeated: existing.rowCount === 1 }, 'Pharmacy selected');
        return { status: 200, body: { pharmacyId: pharmacy.pharmacyId, name: pharmacy.name } satisfies PharmacySelection };
      };
    },
  }, log);
}
