import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseErrorFailures } from '../../src/activities/invalid-data';

/** An error as node-postgres throws it: PostgreSQL's message and fields, its SQLSTATE in `code`. */
const pgError = (code: string, message: string, fields: Partial<DatabaseError> = {}) =>
  Object.assign(new DatabaseError(message, message.length, 'error'), { code, ...fields });

const runThrowing = (err: unknown) =>
  new MockActivityEnvironment({}, { interceptors: [databaseErrorFailures] })
    .run(async () => {
      throw err;
    })
    .catch((failure: unknown) => failure);

describe('what PostgreSQL refuses for good is a refusal, not an outage', () => {
  it('a value its column cannot hold (class 22) fails non-retryable, with its SQLSTATE and column but not the value', async () => {
    const failure = await runThrowing(pgError('22008', 'date/time field value out of range: "0000-01-01"', { column: 'date_of_birth' }));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'InvalidData',
      nonRetryable: true,
      message: 'PostgreSQL refused a value (SQLSTATE 22008, column date_of_birth)',
    });
    expect(JSON.stringify(failure)).not.toContain('0000-01-01');
  });

  it('a change our own trigger refuses (23514 at RAISE) fails non-retryable, with the trigger\'s message', async () => {
    const failure = await runThrowing(
      pgError('23514', 'prescription rx-1 is Delivered, a final status; it cannot become PaymentExpired', {
        where: 'PL/pgSQL function prescriptions_keep_final_status() line 4 at RAISE',
      }),
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'ChangeRefused',
      nonRetryable: true,
      message: 'PostgreSQL refused the change (SQLSTATE 23514): prescription rx-1 is Delivered, a final status; it cannot become PaymentExpired',
    });
  });

  it('a check constraint\'s refusal names the constraint, not the failing row', async () => {
    const failure = await runThrowing(
      pgError('23514', 'new row for relation "patients" violates check constraint "patients_name_check"', {
        constraint: 'patients_name_check',
        table: 'patients',
        detail: 'Failing row contains (p-1, Jane Q Public, 1970-01-01).',
      }),
    );
    expect(failure).toMatchObject({ message: 'PostgreSQL refused the change (SQLSTATE 23514, constraint patients_name_check, table patients)' });
    expect(JSON.stringify(failure)).not.toContain('Jane');
  });

  it('any other PostgreSQL error stays retryable, its message replaced by its SQLSTATE and names', async () => {
    const failure = await runThrowing(
      pgError('23505', 'duplicate key value violates unique constraint "patients_member_key"', {
        constraint: 'patients_member_key',
        detail: 'Key (member_id)=(M-778812) already exists.',
      }),
    );
    expect(failure).toMatchObject({ nonRetryable: false, message: 'PostgreSQL failed (SQLSTATE 23505, constraint patients_member_key)' });
    expect(JSON.stringify(failure)).not.toContain('M-778812');
  });

  it('an error that is not PostgreSQL\'s (a lost connection) is left as it was', async () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(await runThrowing(err)).toBe(err);
  });
});
