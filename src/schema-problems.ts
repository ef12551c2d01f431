import type { z } from 'zod';

/**
 * What a schema found wrong, one `path: message` per problem, for an error a person reads (a parked
 * event's reason, a refused configuration, a partner's unexpected answer). `whole` names the value
 * itself when the problem is with all of it.
 */
export function describeProblems(error: z.ZodError, whole = '(value)'): string {
  return error.issues.map((i) => `${i.path.join('.') || whole}: ${i.message}`).join('; ');
}
