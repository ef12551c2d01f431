import type { Client } from '@temporalio/client';
import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { vi } from 'vitest';
import { z } from 'zod';
import { runBridge, type BridgeOptions } from '../../src/bridges/kafka-bridge';
import { route, type Route } from '../../src/bridges/route';
import type { ParkedEvents } from '../../src/bridges/parked-events';
import { logger } from '../../src/logger';

/**
 * The bridge without Kafka, Temporal or PostgreSQL: `runBridge` on a fake kafkajs consumer whose
 * `eachBatch` the test calls with a fake batch, so the bridge's own decisions (lanes, retry,
 * parking, commit) are tested in milliseconds and with failures a real server cannot be made to give.
 */
export interface FakeBridge {
  /** Runs the bridge's eachBatch on one fake batch of `messages` (offsets 0, 1, ...). */
  settle(messages: FakeMessage[], overrides?: Partial<EachBatchPayload>): { payload: FakeBatchPayload; done: Promise<void> };
  parked: Array<{ offset: string; reason: string }>;
  consumerConfig: Record<string, unknown>;
  /** What the fake consumer was told to do on its events, by event name. */
  listeners: Map<string, (event: any) => void>;
}

export interface FakeMessage {
  key?: string | Buffer | null;
  /** An event (sent as JSON), text, bytes, or null for a record without a value. */
  value: object | string | Buffer | null;
  /** As kafkajs delivers them: a header sent without a value is null, one sent twice an array. */
  headers?: Record<string, FakeHeaderValue | FakeHeaderValue[]>;
}

type FakeHeaderValue = string | Buffer | null;

export type FakeBatchPayload = EachBatchPayload & {
  resolveOffset: ReturnType<typeof vi.fn>;
  heartbeat: ReturnType<typeof vi.fn>;
  commitOffsetsIfNecessary: ReturnType<typeof vi.fn>;
};

export const testTopic = 'things';

/** A route for `{ id, n }` events: ordering key `id`, delivery by the test's `deliver`. */
export function thingRoute(deliver: (event: { id: string; n: number }) => Promise<void>): Route {
  return route({
    topic: testTopic,
    schema: z.object({ id: z.string(), n: z.number() }),
    orderingKey: (event) => event.id,
    closedRun: () => 'undelivered',
    deliver: (_client, event) => deliver(event),
  });
}

/** A Temporal client with nothing but what the bridge itself calls; routes use their own fakes. */
export function fakeClient(workflow: Partial<Client['workflow']> = {}): Client {
  return {
    workflow,
    withDeadline: (_deadline: number | Date, fn: () => Promise<unknown>) => fn(),
    withAbortSignal: (_signal: AbortSignal, fn: () => Promise<unknown>) => fn(),
  } as unknown as Client;
}

export async function startFakeBridge(
  options: Partial<BridgeOptions> & Pick<BridgeOptions, 'routes'>,
  parkedEvents?: Partial<ParkedEvents>,
): Promise<FakeBridge> {
  const parked: FakeBridge['parked'] = [];
  const listeners: FakeBridge['listeners'] = new Map();
  let eachBatch!: (payload: EachBatchPayload) => Promise<void>;
  let consumerConfig: Record<string, unknown> = {};
  const consumer = {
    events: { CRASH: 'consumer.crash' },
    on: (event: string, listener: (e: any) => void) => void listeners.set(event, listener),
    connect: async () => undefined,
    subscribe: async () => undefined,
    disconnect: async () => undefined,
    run: async (config: { eachBatch: typeof eachBatch }) => void (eachBatch = config.eachBatch),
  };
  const kafka = {
    consumer: (config: Record<string, unknown>) => ((consumerConfig = config), consumer),
  } as unknown as Kafka;

  await runBridge({
    kafka,
    client: fakeClient(),
    groupId: 'fake-group',
    maxInFlight: 8,
    parkedEvents: {
      park: async (_topic: string, _partition: number, message: KafkaMessage, reason: string) =>
        void parked.push({ offset: message.offset, reason }),
      ...parkedEvents,
    } as ParkedEvents,
    ...options,
  });

  return {
    parked,
    listeners,
    get consumerConfig() {
      return consumerConfig;
    },
    settle(messages, overrides = {}) {
      const kafkaMessages = messages.map(
        (m, i) =>
          ({
            offset: String(i),
            key: m.key === undefined || m.key === null ? null : Buffer.from(m.key),
            value: m.value === null || Buffer.isBuffer(m.value) ? m.value : Buffer.from(typeof m.value === 'string' ? m.value : JSON.stringify(m.value)),
            headers: m.headers ?? {},
            timestamp: String(Date.now()),
            attributes: 0,
          }) as KafkaMessage,
      );
      const payload = {
        batch: {
          topic: options.routes[0]!.topic,
          partition: 0,
          highWatermark: String(messages.length),
          messages: kafkaMessages,
          isEmpty: () => messages.length === 0,
          firstOffset: () => '0',
          lastOffset: () => String(messages.length - 1),
          offsetLag: () => '0',
          offsetLagLow: () => '0',
        },
        resolveOffset: vi.fn(),
        heartbeat: vi.fn(async () => undefined),
        commitOffsetsIfNecessary: vi.fn(async () => undefined),
        uncommittedOffsets: () => ({ topics: [] }),
        isRunning: () => true,
        isStale: () => false,
        pause: () => () => undefined,
        ...overrides,
      } as unknown as FakeBatchPayload;
      return { payload, done: eachBatch(payload) };
    },
  };
}

/** A gRPC error as @grpc/grpc-js gives it, wrapped the way the Temporal client rethrows it. */
export function temporalRefusal(code: number, details: string, call = 'signalWithStart'): Error {
  const codeNames: Record<number, string> = {
    3: 'INVALID_ARGUMENT',
    4: 'DEADLINE_EXCEEDED',
    7: 'PERMISSION_DENIED',
    8: 'RESOURCE_EXHAUSTED',
    12: 'UNIMPLEMENTED',
    14: 'UNAVAILABLE',
  };
  const grpc = Object.assign(new Error(`${code} ${codeNames[code] ?? 'UNKNOWN'}: ${details}`), {
    code,
    details,
    metadata: { getMap: () => ({}) },
  });
  return new Error(`Failed to ${call} Workflow`, { cause: grpc });
}

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** The bridge's log lines (every child of the shared logger) until `vi.restoreAllMocks()`. */
export function captureLogs(): LogLine[] {
  const lines: LogLine[] = [];
  const child = (bindings: Record<string, unknown>): unknown => {
    const at = (level: string) => (fields: unknown, msg?: string) =>
      void lines.push(
        typeof fields === 'string'
          ? { level, msg: fields, fields: bindings }
          : { level, msg: msg ?? '', fields: { ...bindings, ...(fields as object) } },
      );
    return {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      fatal: at('fatal'),
      child: (more: Record<string, unknown>) => child({ ...bindings, ...more }),
    };
  };
  vi.spyOn(logger, 'child').mockImplementation(child as never);
  return lines;
}
