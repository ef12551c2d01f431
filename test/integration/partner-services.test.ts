import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { createCarrierService, ensureCarrierSchema, type CarrierService } from '../../stand-ins/partner-services/carrier';
import { drugByNdc } from '../../stand-ins/partner-services/catalogue';
import type { StandIn } from '../../stand-ins/http';
import { createInsurerService, ensureInsurerSchema } from '../../stand-ins/partner-services/insurer';
import { createPharmacyService, ensurePharmacySchema } from '../../stand-ins/partner-services/pharmacy';
import { createPartnerClients, partnerRefusedErrorType, type PartnerClients } from '../../src/partners/clients';

/**
 * The partner stand-ins, started in this process on free ports against the stack's PostgreSQL,
 * seen through the clients the prescription activities use. Every ID is fresh, so the stack's own
 * stand-ins (same tables) and earlier runs never answer for these.
 */
const id = (prefix: string) => `${prefix}-${randomUUID()}`;
const ndc = '11111-0002-01';
const unitPrice = drugByNdc(ndc)!.unitPriceCents;
const address = { line1: '1 Test Street', city: 'Testville', postalCode: '10001', country: 'US' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a call threw: a refusal (non-retryable PartnerRefused) or an outage (a plain, retryable Error). */
async function failureOf(call: Promise<unknown>): Promise<{ kind: 'refusal' | 'outage'; message: string }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('expected the call to fail, and it answered');
  if (err instanceof ApplicationFailure) {
    expect({ type: err.type, nonRetryable: err.nonRetryable }).toEqual({ type: partnerRefusedErrorType, nonRetryable: true });
    return { kind: 'refusal', message: err.message };
  }
  expect(err).toBeInstanceOf(Error);
  return { kind: 'outage', message: (err as Error).message };
}

describe('partner stand-ins through their clients', () => {
  let db: Pool;
  let pharmacy: StandIn;
  let insurer: StandIn;
  let carrier: CarrierService;
  let urls: { pharmacyUrl: string; insurerUrl: string; carrierUrl: string };
  let clients: PartnerClients;

  async function startCarrier(): Promise<void> {
    carrier = createCarrierService(db);
    urls.carrierUrl = await carrier.listen(0);
  }

  beforeAll(async () => {
    db = createPool(loadConfig());
    await Promise.all([ensurePharmacySchema(db), ensureInsurerSchema(db), ensureCarrierSchema(db)]);
    pharmacy = createPharmacyService(db);
    insurer = createInsurerService(db);
    urls = { pharmacyUrl: await pharmacy.listen(0), insurerUrl: await insurer.listen(0), carrierUrl: '' };
    await startCarrier();
    clients = createPartnerClients({ ...urls, timeoutMs: 2_000 });
  });
  afterEach(() => {
    for (const service of [pharmacy, insurer, carrier]) Object.assign(service.faults, { failNext: 0, failStatus: 503, delayMs: 0 });
  });
  afterAll(async () => {
    await Promise.all([pharmacy, insurer, carrier].map((s) => s.close()));
    await db.end();
  });

  describe('pharmacy network', () => {
    it('selects a pharmacy that stocks the NDC, and the same one again for the same prescription', async () => {
      const prescriptionId = id('rx');
      const first = await clients.selectPharmacy({ prescriptionId, ndc, quantity: 30, postalCode: '10001' });
      expect(first).toEqual({ pharmacyId: 'pharm-northside', name: 'Northside Pharmacy' });
      // Another area would get another pharmacy for a new prescription, but not for this one.
      const elsewhere = { ndc: '11111-0001-01', quantity: 30, postalCode: '10000' };
      expect(await clients.selectPharmacy({ prescriptionId: id('rx'), ...elsewhere })).toEqual({ pharmacyId: 'pharm-harbor', name: 'Harbor Pharmacy' });
      expect(await clients.selectPharmacy({ prescriptionId, ...elsewhere })).toEqual(first);
    });

    it('refuses an NDC no pharmacy stocks, as a non-retryable PartnerRefused', async () => {
      const failure = await failureOf(clients.selectPharmacy({ prescriptionId: id('rx'), ndc: '00000-0000-00', quantity: 1, postalCode: '10001' }));
      expect(failure).toEqual({ kind: 'refusal', message: 'pharmacy selectPharmacy refused (422)' });
    });
  });

  describe('insurer', () => {
    it('finds members eligible, except lapsed ones', async () => {
      expect(await clients.checkEligibility({ payerId: 'payer-standard', memberId: id('M') })).toEqual({ eligible: true });
      expect(await clients.checkEligibility({ payerId: 'payer-standard', memberId: id('LAPSED') })).toEqual({
        eligible: false,
        reason: 'coverage lapsed',
      });
    });

    it('refuses an unknown payer without echoing the member ID', async () => {
      const memberId = id('MEMBER-PRIVATE');
      const failure = await failureOf(clients.checkEligibility({ payerId: 'payer-nobody', memberId }));
      expect(failure.kind).toBe('refusal');
      // The insurer's error text is not carried at all: another insurer's might quote the member.
      expect(failure.message).toBe('insurer checkEligibility refused (422)');
      expect(failure.message).not.toContain(memberId);
    });

    it('approves with a copay, with none under full coverage, and rejects off formulary or for a lapsed member', async () => {
      const claim = (payerId: string, memberId = id('M')) => ({ claimId: id('claim'), payerId, memberId, ndc, quantity: 10, pharmacyId: 'pharm-northside' });
      const standard = claim('payer-standard');
      expect(await clients.adjudicateClaim(standard)).toEqual({
        claimId: standard.claimId,
        status: 'approved',
        copayCents: 1_500,
        paidCents: unitPrice * 10 - 1_500,
      });
      const full = claim('payer-full-coverage');
      expect(await clients.adjudicateClaim(full)).toEqual({ claimId: full.claimId, status: 'approved', copayCents: 0, paidCents: unitPrice * 10 });
      const strict = claim('payer-formulary-strict');
      expect(await clients.adjudicateClaim(strict)).toEqual({ claimId: strict.claimId, status: 'rejected', reason: 'not on formulary' });
      const lapsed = claim('payer-full-coverage', id('LAPSED'));
      expect(await clients.adjudicateClaim(lapsed)).toMatchObject({ claimId: lapsed.claimId, status: 'rejected' });
    });

    it('adjudicates a claimId once: the same claim gets the same answer, another claim under that ID is refused', async () => {
      const claim = { claimId: id('claim'), payerId: 'payer-standard', memberId: id('M'), ndc, quantity: 3, pharmacyId: 'pharm-northside' };
      const first = await clients.adjudicateClaim(claim);
      expect(await clients.adjudicateClaim(claim)).toEqual(first);
      const { rows } = await db.query('SELECT count(*)::int AS n FROM partner_insurer_claims WHERE claim_id = $1', [claim.claimId]);
      expect(rows[0].n).toBe(1);
      expect((await failureOf(clients.adjudicateClaim({ ...claim, quantity: 4 }))).kind).toBe('refusal');
    });
  });

  describe('carrier', () => {
    it('creates one label per shipment, the same after a restart of the stand-in', async () => {
      const shipmentId = id('ship');
      const label = await clients.createShippingLabel({ shipmentId, pharmacyId: 'pharm-northside', address });
      expect(label).toMatchObject({ shipmentId, carrier: 'LocalPost', trackingNumber: expect.stringMatching(/^LP\d{12}$/) });
      expect(await clients.createShippingLabel({ shipmentId, pharmacyId: 'pharm-northside', address })).toEqual(label);

      await carrier.close();
      await startCarrier();
      const restarted = createPartnerClients({ ...urls, timeoutMs: 2_000 });
      expect((await restarted.createShippingLabel({ shipmentId, pharmacyId: 'pharm-northside', address })).trackingNumber).toBe(label.trackingNumber);
      expect((await restarted.trackShipment(label.trackingNumber)).trackingNumber).toBe(label.trackingNumber);
      clients = restarted;
    });

    it('moves a shipment from label_created to in_transit to delivered, and never delivers to 99999', async () => {
      Object.assign(carrier.delivery, { inTransitAfterMs: 600, deliveredAfterMs: 1_500 });
      try {
        const created = Date.now();
        const label = await clients.createShippingLabel({ shipmentId: id('ship'), pharmacyId: 'pharm-northside', address });
        const stuck = await clients.createShippingLabel({
          shipmentId: id('ship'),
          pharmacyId: 'pharm-northside',
          address: { ...address, postalCode: '99999' },
        });
        const seen: string[] = [];
        let last = await clients.trackShipment(label.trackingNumber);
        while (last.status !== 'delivered' && Date.now() - created < 10_000) {
          if (seen.at(-1) !== last.status) seen.push(last.status);
          await sleep(100);
          last = await clients.trackShipment(label.trackingNumber);
        }
        seen.push(last.status);
        expect(seen).toEqual(['label_created', 'in_transit', 'delivered']);
        expect(Date.parse(last.deliveredAt!)).toBeGreaterThanOrEqual(created + 1_500 - 1_000);

        await sleep(Math.max(0, created + 2_000 - Date.now()));
        expect(await clients.trackShipment(stuck.trackingNumber)).toEqual({ trackingNumber: stuck.trackingNumber, status: 'in_transit' });
      } finally {
        Object.assign(carrier.delivery, { inTransitAfterMs: 2_000, deliveredAfterMs: 5_000 });
      }
    });

    it('refuses an unknown tracking number (404) as non-retryable', async () => {
      expect(await failureOf(clients.trackShipment('LP-none'))).toEqual({
        kind: 'refusal',
        message: 'carrier trackShipment refused (404)',
      });
    });
  });

  describe('faults', () => {
    it('answers failStatus for the next failNext requests, which the client reports as retryable, then recovers', async () => {
      Object.assign(insurer.faults, { failNext: 2, failStatus: 503 });
      const before = insurer.requests;
      const request = { payerId: 'payer-standard', memberId: id('M') };
      expect(await failureOf(clients.checkEligibility(request))).toEqual({
        kind: 'outage',
        message: 'insurer checkEligibility answered 503',
      });
      expect((await failureOf(clients.checkEligibility(request))).kind).toBe('outage');
      expect(await clients.checkEligibility(request)).toEqual({ eligible: true });
      expect(insurer.requests - before).toBe(3);
    });

    it('treats 429 as retryable and any other 4xx as a refusal', async () => {
      Object.assign(pharmacy.faults, { failNext: 1, failStatus: 429 });
      const request = { prescriptionId: id('rx'), ndc, quantity: 1, postalCode: '10001' };
      expect((await failureOf(clients.selectPharmacy(request))).kind).toBe('outage');
      Object.assign(pharmacy.faults, { failNext: 1, failStatus: 400 });
      expect((await failureOf(clients.selectPharmacy(request))).kind).toBe('refusal');
      expect((await clients.selectPharmacy(request)).pharmacyId).toBe('pharm-northside');
    });

    it('reports a partner slower than the timeout as a retryable timeout', async () => {
      const impatient = createPartnerClients({ ...urls, timeoutMs: 300 });
      Object.assign(carrier.faults, { delayMs: 1_000 });
      const started = Date.now();
      expect(await failureOf(impatient.createShippingLabel({ shipmentId: id('ship'), pharmacyId: 'pharm-northside', address }))).toEqual({
        kind: 'outage',
        message: 'carrier createShippingLabel: no answer within 300 ms',
      });
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('counts the requests it held back, and reports the count over HTTP', async () => {
      const faultsOf = async () => (await (await fetch(new URL('/control/faults', urls.insurerUrl))).json()) as { requests: number; delayed: number };
      const before = await faultsOf();
      await clients.checkEligibility({ payerId: 'payer-standard', memberId: id('M') });
      Object.assign(insurer.faults, { delayMs: 50 });
      await clients.checkEligibility({ payerId: 'payer-standard', memberId: id('M') });
      await clients.checkEligibility({ payerId: 'payer-standard', memberId: id('M') });
      const after = await faultsOf();
      expect({ requests: after.requests - before.requests, delayed: after.delayed - before.delayed }).toEqual({ requests: 3, delayed: 2 });
    });

    it('can be set over HTTP, as a demo or another process would', async () => {
      const post = await fetch(new URL('/control/faults', urls.insurerUrl), {
        method: 'POST',
        body: JSON.stringify({ failNext: 1, failStatus: 502 }),
      });
      expect(await post.json()).toMatchObject({ failNext: 1, failStatus: 502, delayMs: 0 });
      expect((await failureOf(clients.checkEligibility({ payerId: 'payer-standard', memberId: id('M') }))).message).toContain('answered 502');
      expect(await (await fetch(new URL('/control/faults', urls.insurerUrl))).json()).toMatchObject({ failNext: 0 });
      // Health stays up while the business endpoints fail.
      Object.assign(insurer.faults, { failNext: 5 });
      expect((await fetch(new URL('/health', urls.insurerUrl))).status).toBe(200);
    });
  });

  describe('the clients alone', () => {
    it('report a partner that is not listening as retryable', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const nowhere = createPartnerClients({ ...urls, pharmacyUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000 });
      const failure = await failureOf(nowhere.selectPharmacy({ prescriptionId: id('rx'), ndc, quantity: 1, postalCode: '10001' }));
      expect(failure).toEqual({ kind: 'outage', message: `pharmacy selectPharmacy: could not reach http://127.0.0.1:${port} (ECONNREFUSED)` });
    });

    it('report an answer of the wrong shape as retryable, naming the field', async () => {
      const wrong = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ pharmacyId: 42 }));
      });
      await new Promise<void>((r) => wrong.listen(0, '127.0.0.1', r));
      try {
        const odd = createPartnerClients({ ...urls, pharmacyUrl: `http://127.0.0.1:${(wrong.address() as AddressInfo).port}`, timeoutMs: 2_000 });
        const failure = await failureOf(odd.selectPharmacy({ prescriptionId: id('rx'), ndc, quantity: 1, postalCode: '10001' }));
        expect(failure.kind).toBe('outage');
        expect(failure.message).toMatch(/^pharmacy selectPharmacy answered 200 with an unexpected body: pharmacyId: .*; name: /);
      } finally {
        await new Promise((r) => wrong.close(r));
      }
    });
  });
});
