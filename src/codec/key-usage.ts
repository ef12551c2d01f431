import type { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { ENCRYPTED_ENCODING, METADATA_ENCRYPTION_KEY_ID } from './encryption-codec';

const text = (bytes: unknown) => (bytes instanceof Uint8Array ? Buffer.from(bytes).toString('utf8') : undefined);

/** Payloads Temporal keeps plain by design (search attributes; headers such as the trace; the SDK's patch markers): never encrypted, so not counted. */
const notThroughTheCodec = new Set(['searchAttributes', 'header', 'patch-data']);

/** What the payloads of one history are encrypted with: the key IDs they name, and how many are plain. */
export interface KeyUse {
  keyIds: Set<string>;
  plainPayloads: number;
}

/**
 * Reads the key IDs from the payloads' metadata, which is in clear text: no key is needed, and the
 * history is as Temporal stores it (`fetchHistory()` does not decode). Walks every event, since a
 * payload can sit in an input, a result, a signal, a failure's details, a memo or a marker.
 */
export function keyUseOf(history: unknown): KeyUse {
  const use: KeyUse = { keyIds: new Set(), plainPayloads: 0 };
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
    if (Array.isArray(value)) return value.forEach(visit);
    const metadata = (value as { metadata?: Record<string, unknown> }).metadata;
    const encoding = metadata && typeof metadata === 'object' ? text(metadata[METADATA_ENCODING_KEY]) : undefined;
    if (encoding !== undefined) {
      const keyId = text(metadata![METADATA_ENCRYPTION_KEY_ID]);
      if (encoding === ENCRYPTED_ENCODING && keyId) use.keyIds.add(keyId);
      else if (encoding !== ENCRYPTED_ENCODING) use.plainPayloads++;
      return;
    }
    for (const [field, child] of Object.entries(value)) if (!notThroughTheCodec.has(field)) visit(child);
  };
  visit(history);
  return use;
}

/** Per key ID, the open runs with a payload under it; `(plain)` counts runs with a plain payload. */
export type OpenRunKeyReport = Map<string, string[]>;

/**
 * Which keys the open runs still need: every open run's whole history is fetched and walked, one
 * run at a time. That is one history read per open run, its whole history: fine before retiring a
 * key, too slow to run often over a namespace with hundreds of thousands of open runs. Closed runs still in retention are not counted (they run no
 * more, though the Web UI shows them through the codec server while retained).
 */
export async function openRunKeyReport(client: Client, query = 'ExecutionStatus="Running"'): Promise<OpenRunKeyReport> {
  const report: OpenRunKeyReport = new Map();
  const add = (key: string, run: string) => report.set(key, [...(report.get(key) ?? []), run]);
  for await (const { workflowId, runId } of openRuns(client, query)) {
    const use = keyUseOf(await client.workflow.getHandle(workflowId, runId).fetchHistory());
    for (const keyId of use.keyIds) add(keyId, workflowId);
    if (use.plainPayloads) add('(plain)', workflowId);
  }
  return report;
}

/**
 * The runs `query` lists, from the raw list call: `client.workflow.list()` decodes each run's memo,
 * which fails on a run under a key this process lacks, the very run the report must name.
 */
async function* openRuns(client: Client, query: string): AsyncGenerator<{ workflowId: string; runId: string }> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query, nextPageToken });
    for (const run of page.executions ?? []) yield { workflowId: run.execution!.workflowId!, runId: run.execution!.runId! };
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}
