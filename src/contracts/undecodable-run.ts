import type { Duration } from '@temporalio/common';

/**
 * Contract of the undecodable-run flag. A run whose workflow task a worker cannot decode (a payload
 * under a key the worker's ring lacks) stays `Running` and runs no code, so it cannot park itself;
 * the worker starts this small flag workflow for it instead, on the same task queue, already
 * `NeedsAttention` with `AttentionKind='Undecodable'`. The flag waits until the run decodes again,
 * then clears its status and completes. Temporal 1.30 marks such runs itself
 * (`TemporalReportedProblems`); our pinned server is older.
 */

/** The step an operator sees as `FailedStep` on a flag. */
export const undecodableStep = 'decodePayload';

const workflowIdPrefix = 'undecodable-';
/** One flag per stuck run: a worker that meets the run again finds the flag already there. */
export const undecodableRunWorkflowId = (workflowId: string): string => `${workflowIdPrefix}${workflowId}`;
export const stuckWorkflowIdFromFlagId = (flagId: string): string | undefined =>
  flagId.startsWith(workflowIdPrefix) ? flagId.slice(workflowIdPrefix.length) : undefined;

/** What a worker knows when it cannot decode a run's workflow task. */
export interface UndecodableRun {
  workflowId: string;
  /** The key the payload names, when it names one. */
  keyId?: string;
  /** The codec's error: it names the key ID, never a key or anything of the payload. */
  message: string;
}

export interface UndecodableRunInput extends UndecodableRun {
  /** How often the flag asks whether the run decodes again. */
  checkEvery: Duration;
}

/** The start of the codec's message for a plain payload refused in strict mode (src/codec/encryption-codec.ts). */
export const plainPayloadRefused = 'Payload is not encrypted';

/** The fix, in the words the flag's details and the worker's log line both use. */
export const undecodableRunFix = (keyId: string | undefined, message = ''): string => {
  if (message.startsWith(plainPayloadRefused)) {
    return 'the run was started or signalled with a plain payload, which strict mode (PAYLOAD_ENCRYPTION_STRICT) refuses: terminate the run if it is forged; if not, send it again through the codec (npm run temporal, the Web UI)';
  }
  return keyId
    ? `give the workers of this task queue a key ring that holds key ${keyId} (PAYLOAD_KEY_RING_FILE) and restart them`
    : 'give the workers of this task queue the key ring the run was written with (PAYLOAD_KEY_RING_FILE) and restart them';
};
