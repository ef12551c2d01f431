/**
 * The load of `npm run bench:payments`, from a second process, as the API's clients are:
 * POST /payments at a fixed rate, open loop (each request leaves at its own time on the
 * schedule, whether or not earlier ones were answered), each under its own Idempotency-Key and
 * paying for a course. It writes one record per request to LOAD_OUT and exits.
 *
 * Not autocannon (9.0.0, read in its lib/): its rate limit lets each connection send back to back
 * until that second's share is used up, then pause until the next second (httpClient.js), a burst
 * each second rather than a request every 5 ms; and with a rate set, unless told to ignore
 * coordinated omission, it records beside each answer's time one more sample per millisecond
 * below it (a correction whose expected interval is Math.ceil(1 / rate) = 1 ms, run.js), which
 * moves every percentile.
 *
 *   LOAD_URL, LOAD_RATE (requests/s), LOAD_SECONDS, LOAD_PREFIX (of every key), LOAD_OUT (a JSON file),
 *   LOAD_CONNECTIONS (64: at most this many requests in flight; the rest queue in the client, and
 *   that wait counts in their latency)
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

// A request unanswered for this long counts as an error, so the run always ends.
const requestTimeoutMs = 10_000;

/** One request: when it was due (ms after the schedule's start), how late it left, how long until its whole answer, and the status (0: no answer). */
export type LoadRecord = [index: number, dueMs: number, lateMs: number, latencyMs: number, status: number];
export interface LoadOutput {
  url: string;
  rate: number;
  seconds: number;
  connections: number;
  prefix: string;
  /** The schedule's start, epoch ms. */
  startedAt: number;
  requests: LoadRecord[];
  /** The first few errors, as text. */
  errors: string[];
}

export const paymentKey = (keyPrefix: string, index: number): string => `${keyPrefix}-${String(index).padStart(6, '0')}`;

async function main(): Promise<void> {
  const required = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set; bench/payments/main.ts runs this`);
    return value;
  };
  const url = required('LOAD_URL');
  const rate = Number(required('LOAD_RATE'));
  const seconds = Number(required('LOAD_SECONDS'));
  const prefix = required('LOAD_PREFIX');
  const out = required('LOAD_OUT');
  const connections = Number(process.env.LOAD_CONNECTIONS ?? 64);
  const pool = new Pool(url, { connections, headersTimeout: requestTimeoutMs, bodyTimeout: requestTimeoutMs });
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const records: LoadRecord[] = new Array<LoadRecord>(total);
  const errors: string[] = [];
  const inFlight: Promise<void>[] = [];
  const start = performance.now() + 50;

  const send = (index: number): Promise<void> => {
    const due = index * intervalMs;
    const sentAt = performance.now();
    const body = JSON.stringify({
      amountCents: 4900,
      currency: 'EUR',
      card: '4242424242424242',
      // Students repeat, as buyers of several courses do; every request is its own payment all the same.
      purpose: { kind: 'course', studentId: `${prefix}-student-${index % 500}`, courseId: 'course_typescript' },
    });
    return pool
      .request({
        path: '/payments',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': paymentKey(prefix, index) },
        body,
      })
      .then(async ({ statusCode, body: answer }) => {
        await answer.dump();
        records[index] = [index, due, sentAt - start - due, performance.now() - sentAt, statusCode];
      })
      .catch((err: Error) => {
        records[index] = [index, due, sentAt - start - due, performance.now() - sentAt, 0];
        if (errors.length < 20) errors.push(`${paymentKey(prefix, index)}: ${err.message}`);
      });
  };

  // Every tick sends whatever is due by now, so a timer that fires late sends the requests it owed
  // at once instead of shifting the rest of the schedule.
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) inFlight.push(send(next++));
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  await Promise.all(inFlight);
  await pool.close();

  const output: LoadOutput = {
    url,
    rate,
    seconds,
    connections,
    prefix,
    startedAt: performance.timeOrigin + start,
    requests: records,
    errors,
  };
  writeFileSync(out, JSON.stringify(output));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
