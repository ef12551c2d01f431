/**
 * The chaos run's payment client: sends the stream's payments to the payment API as a shop's
 * checkout or a patient's browser would. Every request carries its payment's Idempotency-Key, and
 * any error or timeout (the API killed, PostgreSQL or Temporal down behind it) is retried with the
 * same key and body until the API answers 202, so a lost answer never becomes a second payment.
 *
 * Course payments go out at their share of the payment span. A copay goes out once its
 * prescription's payment link exists (its ID is on the `prescriptions` row), after the declined
 * attempt that comes first when there is one; a second copay once the prescription has been paid.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { paymentRequest, type ExpectedPayment } from './stream';

export interface PayerOptions {
  apiUrl: string;
  db: Pool;
  tag: string;
  payments: ExpectedPayment[];
  /** Course payments are sent from the start to the end of this span, each at its share. */
  spanMs: number;
  /** How long one request may take before the client gives up on it and sends it again. */
  requestTimeoutMs?: number;
  say(line: string): void;
}

export interface PayerReport {
  /** Payments sent at least once, and answered 202. */
  sent: number;
  accepted: number;
  /** Payments never sent: a copay whose link never came, or a second one whose prescription was never paid. */
  unsent: string[];
  /** HTTP requests, same-key duplicates and retries included. */
  requests: number;
  /** Requests that failed and were sent again, by why (`503`, `ECONNREFUSED`, `timeout`...). */
  retriedBecause: Record<string, number>;
  /** Answers no correct API gives: a refusal of a valid request, another payment ID for the key. */
  problems: string[];
}

export class Payer {
  private readonly started = new Set<string>();
  private readonly accepted = new Set<string>();
  private readonly finished = new Set<string>();
  private readonly problems: string[] = [];
  private readonly retriedBecause: Record<string, number> = {};
  private readonly sending = new Set<Promise<void>>();
  /** prescription ID → its payment link, and when it was first seen paid. */
  private readonly links = new Map<string, string>();
  private readonly paidAt = new Map<string, number>();
  private requests = 0;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(private readonly options: PayerOptions) {}

  /** The problems so far, for the checker's reads while the run drains. */
  answerProblems(): string[] {
    return [...this.problems];
  }

  start(): void {
    const start = Date.now();
    let failures = 0;
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.tick(Date.now() - start);
        } catch (err) {
          // PostgreSQL stopped: the links are read again at the next tick.
          if (failures++ % 10 === 0) this.options.say(`payments: reading the payment links failed (${(err as Error).message}); trying again`);
        }
        await sleep(1_000);
      }
    })();
  }

  /** Stops sending (requests still being retried give up) and reports. */
  async stop(): Promise<PayerReport> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.sending);
    return {
      sent: this.started.size,
      accepted: this.accepted.size,
      unsent: this.options.payments.filter((p) => !this.started.has(p.paymentId)).map((p) => `${p.paymentId} (${p.story}, ${p.group})`),
      requests: this.requests,
      retriedBecause: { ...this.retriedBecause },
      problems: [...this.problems],
    };
  }

  private async tick(elapsedMs: number): Promise<void> {
    const waiting = this.options.payments.filter((p) => !this.started.has(p.paymentId));
    for (const p of waiting) if ('at' in p.send && p.send.at * this.options.spanMs <= elapsedMs) this.launch(p);
    if (!waiting.some((p) => !('at' in p.send))) return;
    const { rows } = await this.options.db.query<{ prescription_id: string; payment_link_id: string; payment_id: string | null }>(
      `SELECT prescription_id, payment_link_id, payment_id FROM prescriptions
        WHERE starts_with(prescription_id, $1) AND payment_link_id IS NOT NULL`,
      [this.options.tag],
    );
    for (const r of rows) {
      this.links.set(r.prescription_id, r.payment_link_id);
      if (r.payment_id !== null && !this.paidAt.has(r.prescription_id)) this.paidAt.set(r.prescription_id, Date.now());
    }
    for (const p of waiting) {
      if (p.purpose.kind !== 'copay' || 'at' in p.send) continue;
      const { prescriptionId } = p.purpose;
      if (!this.links.has(prescriptionId)) continue;
      const send = p.send;
      const due =
        send.when === 'awaiting-payment'
          ? send.after === undefined || this.finished.has(send.after)
          : Date.now() >= (this.paidAt.get(prescriptionId) ?? Infinity) + send.delaySeconds * 1000;
      if (due) this.launch(p, this.links.get(prescriptionId));
    }
  }

  private launch(p: ExpectedPayment, linkId?: string): void {
    this.started.add(p.paymentId);
    const body = JSON.stringify(paymentRequest(p, linkId));
    const once = () => this.post(p, body);
    const sent = (async () => {
      if (p.together) await Promise.all(Array.from({ length: p.copies }, once));
      else for (let i = 0; i < p.copies; i++) await once();
      this.finished.add(p.paymentId);
    })();
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
  }

  /** One request under the payment's key, sent again on any error or timeout until answered or stopped. */
  private async post(p: ExpectedPayment, body: string): Promise<void> {
    const url = new URL('/payments', this.options.apiUrl);
    while (!this.stopped) {
      this.requests++;
      let why: string;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': p.key, 'correlation-id': `chaos-payment-${p.key}` },
          body,
          signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000),
        });
        const answer = (await res.json().catch(() => ({}))) as { paymentId?: string; error?: string };
        if (res.status === 202) {
          if (answer.paymentId !== p.paymentId) this.problems.push(`payment ${p.paymentId} (${p.story}, ${p.group}): key ${p.key} answered as payment ${answer.paymentId}`);
          this.accepted.add(p.paymentId);
          return;
        }
        if (res.status < 500) {
          this.problems.push(`payment ${p.paymentId} (${p.story}, ${p.group}): the API answered ${res.status}: ${answer.error ?? ''}`.slice(0, 300));
          return;
        }
        why = String(res.status);
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        why = (err as Error).name === 'TimeoutError' ? 'timeout' : (cause?.code ?? (err as Error).message);
      }
      this.retriedBecause[why] = (this.retriedBecause[why] ?? 0) + 1;
      await sleep(1_000);
    }
  }
}
