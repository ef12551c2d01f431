import { parseArgs } from 'node:util';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import Long from 'long';
import { loadConfig } from './config';
import { createTemporalClient } from './connections';
import { searchAttributes } from './contracts/pipeline';

const { IndexedValueType } = temporal.api.enums.v1;
const grpc = { NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12 } as const;

export interface Registration {
  namespace: string;
  /** Closed runs are kept this long; applied only when the namespace is created here. */
  retentionSeconds: number;
}

/**
 * Makes a Temporal cluster ready for the pipelines: the namespace (created with `retentionSeconds`
 * if it does not exist) and the search attributes of src/contracts/pipeline.ts in it. Idempotent:
 * what is there already is left as it is. A search attribute there under another type is an error,
 * since the workflows could not set it. Resolves with one line per thing it checked.
 */
export async function registerPipelines(client: Client, { namespace, retentionSeconds }: Registration): Promise<string[]> {
  const done: string[] = [];
  const existing = await client.workflowService.describeNamespace({ namespace }).catch((err: unknown) => {
    if (isGrpcServiceError(err) && err.code === grpc.NOT_FOUND) return undefined;
    throw err;
  });
  if (existing) {
    done.push(`namespace ${namespace}: already there (retention ${describeSeconds(Number(existing.config?.workflowExecutionRetentionTtl?.seconds ?? 0))}, left as it is)`);
  } else {
    await refusedAs('RegisterNamespace', () =>
      client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(retentionSeconds) } }),
    ).catch((err: unknown) => {
      // Another run of this command created it meanwhile.
      if (!(isGrpcServiceError(err) && err.code === grpc.ALREADY_EXISTS)) throw err;
    });
    done.push(`namespace ${namespace}: created (retention ${describeSeconds(retentionSeconds)})`);
  }

  // A new namespace reaches the frontend's namespace cache some seconds after it was created
  // (every 10 s on Temporal's server): until then the operator service says it does not exist.
  const listed = await untilNamespaceKnown(() => client.connection.operatorService.listSearchAttributes({ namespace }));
  const types = new Map(Object.entries(listed.customAttributes ?? {}));
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  const conflicts: string[] = [];
  for (const key of searchAttributes) {
    const wanted = IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`];
    const found = types.get(key.name);
    if (found === undefined) missing[key.name] = wanted;
    else if (found !== wanted) conflicts.push(`${key.name} is ${typeName(found)} in namespace ${namespace}; the pipelines set it as ${typeName(wanted)}`);
    else done.push(`search attribute ${key.name} (${typeName(wanted)}): already there`);
  }
  if (conflicts.length) {
    throw new Error(
      `search attribute type conflict: ${conflicts.join('; ')}. A search attribute's type cannot be changed: remove it ` +
        `(temporal operator search-attribute delete) or use another namespace, then run this again`,
    );
  }
  if (Object.keys(missing).length) {
    await refusedAs('AddSearchAttributes', () => client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing }));
    // Done once the frontend lists them: a run setting one before then would be refused.
    await untilListed(client, namespace, Object.keys(missing));
    for (const [name, type] of Object.entries(missing)) done.push(`search attribute ${name} (${typeName(type)}): added`);
  }
  return done;
}

/** A cluster that keeps these calls to its own tooling says so with one of these codes; name what is missing. */
async function refusedAs<T>(call: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isGrpcServiceError(err) && (err.code === grpc.PERMISSION_DENIED || err.code === grpc.UNIMPLEMENTED)) {
      throw new Error(
        `the cluster refused ${call} (${err.details}): this identity may not change its namespaces. Create them with ` +
          `the cluster's own tooling instead (Temporal Cloud: tcld or the Cloud UI), then run this again to check`,
      );
    }
    throw err;
  }
}

async function untilNamespaceKnown<T>(call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(isGrpcServiceError(err) && err.code === grpc.NOT_FOUND) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function untilListed(client: Client, namespace: string, names: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
    const absent = names.filter((name) => !(name in (customAttributes ?? {})));
    if (!absent.length) return;
    if (Date.now() > deadline) throw new Error(`added, but still not listed after ${timeoutMs / 1000} s: ${absent.join(', ')}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

const typeName = (type: temporal.api.enums.v1.IndexedValueType) =>
  (IndexedValueType[type] ?? String(type)).replace('INDEXED_VALUE_TYPE_', '');

const describeSeconds = (seconds: number) => (seconds % 86_400 === 0 ? `${seconds / 86_400}d` : `${seconds / 3_600}h`);

/** `7d` or `24h`, as the temporal CLI's `--retention` takes them (whole days or hours). */
export function parseRetention(text: string): number | undefined {
  const match = /^(\d+)(d|h)$/.exec(text);
  const seconds = match ? Number(match[1]) * (match[2] === 'd' ? 86_400 : 3_600) : 0;
  return seconds > 0 ? seconds : undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { values } = parseArgs({
    options: { namespace: { type: 'string', default: config.TEMPORAL_NAMESPACE }, retention: { type: 'string', default: '1d' } },
  });
  const retentionSeconds = parseRetention(values.retention);
  if (!retentionSeconds) throw new Error(`--retention must be whole days or hours, such as 7d or 24h, not '${values.retention}'`);
  // The processes' own connection settings, so it registers where they will connect.
  const client = await createTemporalClient(config);
  try {
    const lines = await registerPipelines(client, { namespace: values.namespace, retentionSeconds });
    for (const line of lines) console.log(line);
  } finally {
    await client.connection.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`temporal:register failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
