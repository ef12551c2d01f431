import { ApplicationFailure, asyncLocalStorage as activityContext } from '@temporalio/activity';
import type { z } from 'zod';
import { describeProblems } from './schema-problems';
import { currentCorrelationId } from './trace-node';

/**
 * One JSON call to another team's or company's HTTP service, from an activity. How its answer
 * becomes the activity's outcome:
 *   - 2xx: the body, checked against its schema;
 *   - a refusal (4xx other than 408 and 429): ApplicationFailure.nonRetryable of type `refusedType`,
 *     so the step parks for an operator instead of retrying the same request, unless `outcomes`
 *     turns that status into a failure of its own (a card decline is a business outcome);
 *   - no answer in time, no connection, 5xx, 408, 429, or a 2xx body we cannot read: a plain
 *     Error, which Temporal retries (an outage that ends needs nobody).
 * Messages start with `what` and the status, plus the service's error code when it sends one
 * that is a code (`NDC_NOT_COVERED`); never the request, the body or the service's error text,
 * which may echo personal data (a name, a member ID) and would be logged and kept in the history.
 */
export interface HttpCall<T> {
  /** Who and what, for messages: "insurer checkEligibility". */
  what: string;
  url: URL;
  method: 'GET' | 'POST';
  body?: unknown;
  /** Sent besides content-type and the correlation ID (an Idempotency-Key). */
  headers?: Record<string, string>;
  response: z.ZodType<T>;
  /**
   * Refusal statuses that mean something of their own, and what each is thrown as, made from the
   * answer's body (parsed JSON; a body that is not JSON is a retryable Error, as for a 2xx).
   */
  outcomes?: Record<number, (body: unknown) => Error>;
  timeoutMs: number;
  /** The error type of a refusal; its details are `refusalDetails` and the status. */
  refusedType: string;
  refusalDetails?: Record<string, unknown>;
}

export async function callHttp<T>(call: HttpCall<T>): Promise<T> {
  const { what, url, method, body, headers, response: schema, outcomes, timeoutMs, refusedType, refusalDetails } = call;
  const correlationId = currentCorrelationId();
  // Inside an activity, a cancelled activity also stops its call; tests call the clients directly.
  const cancelled = activityContext.getStore()?.cancellationSignal;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { ...headers, 'content-type': 'application/json', ...(correlationId ? { 'correlation-id': correlationId } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: cancelled ? AbortSignal.any([cancelled, timeout]) : timeout,
    });
  } catch (err) {
    if (cancelled?.aborted) throw err;
    if (timeout.aborted) throw new Error(`${what}: no answer within ${timeoutMs} ms`);
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`${what}: could not reach ${url.origin} (${cause})`);
  }
  let text: string;
  try {
    text = await response.text();
  } catch {
    if (cancelled?.aborted) throw cancelled.reason;
    throw new Error(`${what}: answer ${response.status} cut off${timeout.aborted ? ` after ${timeoutMs} ms` : ''}`);
  }
  const { status } = response;
  const outcome = outcomes?.[status];
  if (outcome) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${what} answered ${status} with a body that is not JSON`);
    }
    throw outcome(json);
  }
  const code = errorCode(text);
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    throw ApplicationFailure.create({
      type: refusedType,
      nonRetryable: true,
      message: `${what} refused (${status})${code ? `: ${code}` : ''}`,
      details: [{ ...refusalDetails, status, ...(code ? { code } : {}) }],
    });
  }
  if (!response.ok) throw new Error(`${what} answered ${status}${code ? `: ${code}` : ''}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${what} answered ${status} with a body that is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${what} answered ${status} with an unexpected body: ${describeProblems(parsed.error)}`);
  }
  return parsed.data;
}

/** A machine-readable error code: letters, digits and `._-`, no spaces, so it cannot be prose that quotes the request. */
const safeCode = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/** The service's `code` (or an `error` that is a code), if its body has one; never its text. */
function errorCode(body: string): string {
  try {
    const { code, error } = JSON.parse(body) as { code?: unknown; error?: unknown };
    return [code, error].find((c): c is string => typeof c === 'string' && safeCode.test(c)) ?? '';
  } catch {
    return '';
  }
}
