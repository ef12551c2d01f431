import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { describeDatabaseError, isDatabaseError } from '../database-errors';

/**
 * What PostgreSQL refuses the same way at every attempt, so retrying it as an outage for a day only
 * delays the person who must look at it:
 * - class 22, "data exception": a value its column cannot hold (an integer past 2^31, the year 0, a
 *   NUL in text);
 * - 23514, `check_violation`: a change a table refuses to make (a prescription moved out of its
 *   final status, migrations/006_prescription_final_status.sql).
 * Answers the failure's type and what PostgreSQL refused, or nothing for any other error.
 */
export function databaseRefusal(err: unknown): { type: string; refused: string } | undefined {
  if (!isDatabaseError(err) || typeof err.code !== 'string') return undefined;
  if (/^22[0-9A-Z]{3}$/.test(err.code)) return { type: 'InvalidData', refused: 'a value' };
  if (err.code === '23514') return { type: 'ChangeRefused', refused: 'the change' };
  return undefined;
}

/**
 * Around every activity, where its errors leave for the SDK's log and the workflow history: a
 * PostgreSQL error leaves as its SQLSTATE and the names it concerns, without PostgreSQL's message,
 * which quotes the value (src/database-errors.ts). A refusal of a value or a change becomes a
 * non-retryable failure, so the step is parked as a refusal at its first attempt; any other
 * PostgreSQL error stays retryable, with its type.
 */
export const databaseErrorFailures: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        if (!isDatabaseError(err)) throw err;
        const refusal = databaseRefusal(err);
        // No cause: the cause's message is what must not leave, and this one says what can.
        throw ApplicationFailure.create({
          type: refusal?.type ?? err.name,
          message: describeDatabaseError(err, refusal ? `PostgreSQL refused ${refusal.refused}` : undefined),
          nonRetryable: refusal !== undefined,
        });
      }
    },
  },
});
