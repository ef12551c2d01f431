import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { invalidDataIsRefusal } from '../../src/activities/invalid-data';

/** An error as node-postgres throws it: PostgreSQL's message, its SQLSTATE in `code`. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

const runThrowing = (err: unknown) =>
  new MockActivityEnvironment({}, { interceptors: [invalidDataIsRefusal] })
    .run(async () => {
      throw err;
    })
    .catch((failure: unknown) => failure);

describe('what PostgreSQL refuses for good is a refusal, not an outage', () => {
  it('a value its column cannot hold (class 22) fails non-retryable, with PostgreSQL\'s reason', async () => {
    const failure = await runThrowing(pgError('22003', 'value "3000000000" is out of range for type integer'));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'InvalidData',
      nonRetryable: true,
      message: 'PostgreSQL refused a value (SQLSTATE 22003): value "3000000000" is out of range for type integer',
    });
  });

  it('a change a table refuses (23514, check_violation) fails non-retryable, with PostgreSQL\'s reason', async () => {
    const failure = await runThrowing(pgError('23514', 'prescription rx-1 is Delivered, a final status; it cannot become PaymentExpired'));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'ChangeRefused',
      nonRetryable: true,
      message: 'PostgreSQL refused the change (SQLSTATE 23514): prescription rx-1 is Delivered, a final status; it cannot become PaymentExpired',
    });
  });

  it('anything else (a unique violation a step handles itself, a lost connection) is left as it was: retryable', async () => {
    for (const err of [pgError('23505', 'duplicate key value'), pgError('57P01', 'terminating connection'), new Error('connect ECONNREFUSED')]) {
      expect(await runThrowing(err)).toBe(err);
    }
  });
});
