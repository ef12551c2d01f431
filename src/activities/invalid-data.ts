import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * PostgreSQL's class 22, "data exception": a value its column cannot hold (an integer past
 * 2^31, the year 0, a NUL in text). The same value fails at every attempt, so retrying it as an
 * outage for a day only delays the person who must look at it.
 */
export function isInvalidData(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/**
 * Around every activity: PostgreSQL's refusal of a value becomes a non-retryable failure, so the
 * step is parked as a refusal at its first attempt, with PostgreSQL's reason.
 */
export const invalidDataIsRefusal: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        if (!isInvalidData(err)) throw err;
        throw ApplicationFailure.create({
          type: 'InvalidData',
          message: `PostgreSQL refused a value (SQLSTATE ${err.code}): ${err.message}`,
          nonRetryable: true,
          // No cause: the operator's view names the innermost cause's message, and this one says more.
        });
      }
    },
  },
});
