import { isGrpcServiceError, WorkflowNotFoundError } from '@temporalio/client';

/**
 * What a failed Temporal call means for the record that caused it:
 * - `retry`: Temporal is unreachable or busy; the partition waits and tries again.
 * - `hold`: Temporal refuses every request alike (wrong permissions, an unregistered search
 *   attribute, an unknown namespace). Parking would move the whole topic into the parking table,
 *   so the partition waits for the fix, and says so at error level.
 * - `park`: Temporal refuses this record for good (too large, or otherwise invalid as sent).
 */
export type Verdict = { action: 'retry' } | { action: 'hold'; why: string } | { action: 'park'; why: string };

const grpcCodeNames: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

// Refusals that no request can get past until someone changes the server or the bridge's setup.
const systemicCodes = new Set([5 /* NOT_FOUND */, 7 /* PERMISSION_DENIED */, 9 /* FAILED_PRECONDITION */, 12 /* UNIMPLEMENTED */, 16 /* UNAUTHENTICATED */]);
const systemicMessages = /search attribute .*(is not defined|not registered|unknown)|namespace .*not (found|registered|active)/i;
// The record (its payload, memo or a header-derived value) is larger than Temporal accepts.
const tooLargeMessages = /size limit|exceeds .*limit|blob (data )?size|too large|larger than max/i;

export function judgeTemporalError(err: unknown): Verdict {
  const grpc = grpcErrorIn(err);
  if (!grpc) {
    // The client turns a NOT_FOUND of the namespace into this for signal-with-start.
    if (err instanceof WorkflowNotFoundError) return { action: 'hold', why: err.message };
    return { action: 'retry' };
  }
  const why = `${grpcCodeNames[grpc.code] ?? grpc.code}: ${grpc.details}`;
  if (tooLargeMessages.test(grpc.details) && (grpc.code === 3 || grpc.code === 8)) return { action: 'park', why };
  if (systemicCodes.has(grpc.code) || systemicMessages.test(grpc.details)) return { action: 'hold', why };
  // Any other INVALID_ARGUMENT is about the request as sent; the breaker below catches the case
  // where it is really about every request.
  if (grpc.code === 3) return { action: 'park', why };
  // RESOURCE_EXHAUSTED without a size is a rate limit; the rest (UNAVAILABLE, DEADLINE_EXCEEDED,
  // INTERNAL, ...) is an outage.
  return { action: 'retry' };
}

/**
 * The error with every cause under it, gRPC errors as code and details: the client's own message
 * ("Failed to signalWithStart Workflow") says what failed, the causes say why.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    const text = isGrpcServiceError(e)
      ? `${grpcCodeNames[e.code] ?? e.code}: ${e.details}`
      : e instanceof Error
        ? e.message
        : String(e);
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(': ');
}

function grpcErrorIn(err: unknown): { code: number; details: string } | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e)) return e;
  }
  return undefined;
}

/**
 * Stops parking after `threshold` identical refusals in a row: a systemic refusal that looks
 * per-record (every event suddenly "too large" after a server limit changed) must not drain a
 * topic into the parking table. Any delivery breaks the row. Numbers are ignored when comparing,
 * so "size 3002" and "size 3107" are the same refusal.
 */
export class ParkingBreaker {
  private last: string | undefined;
  private inARow = 0;

  constructor(readonly threshold: number) {}

  /** Records a refusal; false once it is the same refusal more than `threshold` times in a row. */
  mayPark(why: string): boolean {
    const signature = why.replace(/\d+/g, '#');
    if (signature === this.last) this.inARow++;
    else [this.last, this.inARow] = [signature, 1];
    return this.inARow <= this.threshold;
  }

  delivered(): void {
    [this.last, this.inARow] = [undefined, 0];
  }

  /** Open (not parking) from the refusal past the threshold until the next delivery. */
  get open(): boolean {
    return this.inARow > this.threshold;
  }
}
