import type { ActivityOptions, Duration, LocalActivityOptions } from '@temporalio/common';

/**
 * How each kind of step calls its activity: the fast retries at the call site, and what happens
 * once they are used up. Workflows declare each step with one of these by name (`operator.steps`)
 * instead of pasting literals.
 */
export type StepOptions = StepHandling & (
  | { activity: ActivityOptions; localActivity?: never }
  /** Runs as a local activity, inside the workflow task that needs it (see `localDatabaseStep`). */
  | { localActivity: LocalActivityOptions; activity?: never }
);

interface StepHandling {
  /**
   * An outage (a retryable failure outlived the fast retries) is retried by the run itself every
   * `retryEvery`, until `for` after it began; only then does it wait for a person. Without this,
   * the run waits for a person at once.
   */
  outage?: { retryEvery: Duration; for: Duration };
  /**
   * A refusal (a non-retryable failure) waits for a person by default; `compensate` undoes the
   * steps done so far and ends the run instead (a saga's declined payment).
   */
  onRefusal?: 'waitForOperator' | 'compensate';
}

/** A short PostgreSQL step (or a Kafka emit): seconds of quick retries, then by itself for a day. */
export const databaseStep = {
  activity: {
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
  },
  outage: { retryEvery: '2 minutes', for: '1 day' },
} satisfies StepOptions;

/**
 * `databaseStep` as a local activity, with the same timeout, retries and outage handling. Its
 * retries wait on workflow timers, not in the worker: during an outage no workflow task is held
 * open for the backoff.
 */
export const localDatabaseStep = {
  localActivity: { ...databaseStep.activity, localRetryThreshold: 0 },
  outage: databaseStep.outage,
} satisfies StepOptions;

/**
 * A call to another team's HTTP service, such as the admin service: 30 s per attempt (the seed's
 * timeout), five attempts, then by itself every 5 minutes for a day. A 4xx answer is a refusal,
 * thrown non-retryable by the activity.
 */
export const externalCall = {
  activity: {
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
  },
  outage: { retryEvery: '5 minutes', for: '1 day' },
} satisfies StepOptions;

/**
 * Asking a partner until it says done (a parcel delivered), every `interval`: Temporal's pattern for
 * infrequent polling. Each "not yet" fails the attempt and the server retries it after `interval`,
 * with no limit, so a poll writes nothing to the run's history and wakes no workflow task: the run
 * sees only the answer that ends it. An outage is one more failed attempt, retried the same way;
 * the Web UI's pending activity shows the attempts and the last answer. A refusal (4xx) is thrown
 * non-retryable and waits for a person, as `externalCall`'s do. Each attempt has `externalCall`'s
 * 30 s.
 */
export const pollUntilDone = (interval: Duration) =>
  ({
    activity: {
      startToCloseTimeout: externalCall.activity.startToCloseTimeout,
      retry: { initialInterval: interval, backoffCoefficient: 1, maximumInterval: interval },
    },
  }) satisfies StepOptions;

/** A side effect nobody waits for (cache invalidation): three quick attempts, then it is only logged. */
export const bestEffort = {
  activity: {
    startToCloseTimeout: '5 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
  },
} satisfies StepOptions;

/**
 * `bestEffort` as a local activity: the same attempts, their backoff on workflow timers, and a
 * second each instead of five. A local activity runs inside a workflow task, which does not
 * complete (and so sends none of its other commands) until the activity ends: a store that does
 * not answer would hold the run's next step for the whole attempt.
 */
export const localBestEffort = {
  localActivity: { ...bestEffort.activity, startToCloseTimeout: '1 second', localRetryThreshold: 0 },
} satisfies StepOptions;
