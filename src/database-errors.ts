import { DatabaseError } from 'pg';

/**
 * What a PostgreSQL error may say outside PostgreSQL: its SQLSTATE and the names of what it is
 * about (constraint, table, column), never its message or detail. Those quote the offending value
 * (`date/time field value out of range: "0000-01-01"`, `Key (member_id)=(M123) already exists`),
 * and an activity's failure is logged by the SDK and kept in the workflow history.
 *
 * The one exception is a message our own migrations raise (a trigger's RAISE, which PostgreSQL
 * reports `at RAISE`): its text is ours, and names identifiers and statuses only.
 */
export function describeDatabaseError(err: DatabaseError, what = 'PostgreSQL failed'): string {
  const about = [
    `SQLSTATE ${err.code ?? 'unknown'}`,
    err.constraint && `constraint ${err.constraint}`,
    err.table && `table ${err.table}`,
    err.column && `column ${err.column}`,
  ].filter(Boolean);
  const ours = /\bat RAISE$/m.test(err.where ?? '') ? `: ${err.message}` : '';
  return `${what} (${about.join(', ')})${ours}`;
}

export const isDatabaseError = (err: unknown): err is DatabaseError => err instanceof DatabaseError;
