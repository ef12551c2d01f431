import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * What PostgreSQL refuses the same way at every attempt, so retrying it as an outage for a day only
 * delays the person who must look at it:
 * - class 22, "data exception": a value its column cannot hold (an integer past 2^31, the year 0, a
 *   NUL in text);
 * - 23514, `check_violation`: a change a table refuses to make (a prescription moved out of its
 *   final status, migrations/006_prescription_final_status.sql).
 * Answers the failure's type and what PostgreSQL refused, or nothing for any other error.
 */
export function databaseRefusal(err: unknown): { type: string; refused: string; code: string } | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (!(err instanceof Error) || typeof code !== 'string') return undefined;
  if (/^22[0-9A-Z]{3}$/.test(code)) return { type: 'InvalidData', refused: 'a value', code };
  if (code === '23514') return { type: 'ChangeRefused', refused: 'the change', code };
  return undefined;
}

/**
 * Around every activity: PostgreSQL's refusal of a value or a change becomes a non-retryable
 * failure, so the step is parked as a refusal at its first attempt, with PostgreSQL's reason.
 */
export const invalidDataIsRefusal: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        const refusal = databaseRefusal(err);
        if (!refusal) throw err;
        throw ApplicationFailure.create({
          type: refusal.type,
          message: `PostgreSQL refused ${refusal.refused} (SQLSTATE ${refusal.code}): ${(err as Error).message}`,
          nonRetryable: true,
          // No cause: the operator's view names the innermost cause's message, and this one says more.
        });
      }
    },
  },
});
