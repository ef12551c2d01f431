import type { Pool } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';
import type { Adjudication, Eligibility } from '../../src/partners/responses';
import { drugByNdc } from './catalogue';
import { createStandIn, ensureTables, HttpError, parse, type StandIn } from '../http';

/**
 * Stand-in for the insurer (eligibility and claim adjudication).
 *
 *   POST /eligibility  { payerId, memberId } -> 200 { eligible: true } | { eligible: false, reason }
 *   POST /claims       { claimId, payerId, memberId, ndc, quantity, pharmacyId }
 *                      -> 200 { claimId, status: 'approved', copayCents, paidCents }
 *                           | { claimId, status: 'rejected', reason }
 *                      -> 409 when the claimId was adjudicated before with other details
 *
 * Rules, deterministic so a demo or test picks the outcome by payer and member:
 *   - payer-standard          approves with a copay of 1500 cents
 *   - payer-full-coverage     approves with a copay of 0
 *   - payer-formulary-strict  eligible, but rejects every claim ("not on formulary")
 *   - any other payer         422 (unknown payer) on both endpoints
 *   - a memberId starting with LAPSED is ineligible ("coverage lapsed") and its claims rejected
 *   - an NDC not in catalogue.ts is rejected ("NDC not covered")
 *   - paidCents = unit price × quantity − copay (at least 0)
 * A claim is adjudicated once: the answer is stored and returned again for the same claimId.
 * Member IDs are personal data: stored for the claim, never logged or echoed in errors.
 */
export const insurerSchema = `
CREATE TABLE IF NOT EXISTS partner_insurer_claims (
  claim_id    text PRIMARY KEY,
  payer_id    text NOT NULL,
  member_id   text NOT NULL,
  ndc         text NOT NULL,
  quantity    integer NOT NULL,
  pharmacy_id text NOT NULL,
  status      text NOT NULL CHECK (status IN ('approved', 'rejected')),
  copay_cents integer,
  paid_cents  integer,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
`;

export const payers = {
  'payer-standard': { copayCents: 1_500, formularyStrict: false },
  'payer-full-coverage': { copayCents: 0, formularyStrict: false },
  'payer-formulary-strict': { copayCents: 1_500, formularyStrict: true },
} as const;
type PayerId = keyof typeof payers;

const eligibilityRequest = z.object({ payerId: z.string().min(1), memberId: z.string().min(1) });
const claimRequest = z.object({
  claimId: z.string().min(1),
  payerId: z.string().min(1),
  memberId: z.string().min(1),
  ndc: z.string().min(1),
  quantity: z.number().int().positive(),
  pharmacyId: z.string().min(1),
});
type ClaimRequest = z.infer<typeof claimRequest>;

interface ClaimRow {
  claim_id: string;
  payer_id: string;
  member_id: string;
  ndc: string;
  quantity: number;
  pharmacy_id: string;
  status: 'approved' | 'rejected';
  copay_cents: number | null;
  paid_cents: number | null;
  reason: string | null;
}

export const ensureInsurerSchema = (db: Pool) => ensureTables(db, 727_302, insurerSchema);

function knownPayer(payerId: string): PayerId {
  if (!(payerId in payers)) throw new HttpError(422, `unknown payer ${payerId}`);
  return payerId as PayerId;
}

const lapsed = (memberId: string) => memberId.startsWith('LAPSED');

function adjudicate(claim: ClaimRequest): Adjudication {
  const payer = payers[knownPayer(claim.payerId)];
  const rejected = (reason: string): Adjudication => ({ claimId: claim.claimId, status: 'rejected', reason });
  if (lapsed(claim.memberId)) return rejected('member not eligible: coverage lapsed');
  const drug = drugByNdc(claim.ndc);
  if (!drug) return rejected('NDC not covered');
  if (payer.formularyStrict) return rejected('not on formulary');
  const total = drug.unitPriceCents * claim.quantity;
  const copayCents = Math.min(payer.copayCents, total);
  return { claimId: claim.claimId, status: 'approved', copayCents, paidCents: total - copayCents };
}

const fromRow = (row: ClaimRow): Adjudication =>
  row.status === 'approved'
    ? { claimId: row.claim_id, status: 'approved', copayCents: row.copay_cents!, paidCents: row.paid_cents! }
    : { claimId: row.claim_id, status: 'rejected', reason: row.reason! };

const sameClaim = (row: ClaimRow, claim: ClaimRequest) =>
  row.payer_id === claim.payerId &&
  row.member_id === claim.memberId &&
  row.ndc === claim.ndc &&
  row.quantity === claim.quantity &&
  row.pharmacy_id === claim.pharmacyId;

export function createInsurerService(db: Pool): StandIn {
  const log = logger.child({ component: 'insurer-service' });

  async function eligibility(body: unknown) {
    const { payerId, memberId } = parse(eligibilityRequest, body);
    knownPayer(payerId);
    const answer: Eligibility = lapsed(memberId) ? { eligible: false, reason: 'coverage lapsed' } : { eligible: true };
    log.info({ payerId, eligible: answer.eligible }, 'Eligibility checked');
    return { status: 200, body: answer };
  }

  async function claims(body: unknown) {
    const claim = parse(claimRequest, body);
    const decided = adjudicate(claim);
    const { rows } = await db.query<ClaimRow>(
      `INSERT INTO partner_insurer_claims
         (claim_id, payer_id, member_id, ndc, quantity, pharmacy_id, status, copay_cents, paid_cents, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (claim_id) DO UPDATE SET claim_id = EXCLUDED.claim_id
       RETURNING *, (xmax::text <> '0') AS repeated`,
      [
        claim.claimId, claim.payerId, claim.memberId, claim.ndc, claim.quantity, claim.pharmacyId, decided.status,
        decided.status === 'approved' ? decided.copayCents : null,
        decided.status === 'approved' ? decided.paidCents : null,
        decided.status === 'rejected' ? decided.reason : null,
      ],
    );
    const row = rows[0]! as ClaimRow & { repeated: boolean };
    // A claimId names one claim: another claim under the same ID is a caller's bug, not a retry.
    if (!sameClaim(row, claim)) throw new HttpError(409, `claim ${claim.claimId} was adjudicated with other details`);
    const answer = fromRow(row);
    log.info({ claimId: claim.claimId, payerId: claim.payerId, pharmacyId: claim.pharmacyId, status: answer.status, repeated: row.repeated }, 'Claim adjudicated');
    return { status: 200, body: answer };
  }

  return createStandIn('insurer', db, {
    business: (req) => {
      if (req.method === 'POST' && req.pathname === '/eligibility') return async () => eligibility(await req.json());
      if (req.method === 'POST' && req.pathname === '/claims') return async () => claims(await req.json());
      return undefined;
    },
  }, log);
}
