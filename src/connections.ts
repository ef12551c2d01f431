import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners, type KafkaConfig, type Producer } from 'kafkajs';
import { Pool } from 'pg';
import { dataConverterFor } from './codec/data-converter';
import type { Config } from './config';
import { kafkaConnectionOptions, postgresConnectionOptions, redisConnectionUrl, temporalConnectionOptions } from './connection-options';
import { logger } from './logger';
import { tracingClientInterceptor } from './opentelemetry';
import { traceClientInterceptors } from './trace-node';

/**
 * Clients of the real infrastructure, built from config. Entry points and tests share these. Each
 * takes its address, TLS and credentials from src/connection-options.ts, which refuses plaintext
 * to a host that is not loopback: built at start, a client so refused stops the process there.
 */
export function createKafka(config: Config, clientId = config.KAFKA_CLIENT_ID, bounds: Pick<KafkaConfig, 'requestTimeout' | 'retry'> = {}): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    ...kafkaConnectionOptions(config),
    ...bounds,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        else log.warn(rest, message);
      },
  });
}

/**
 * For a worker's producer: a request Kafka does not answer in 2 s fails, and connecting is tried
 * twice, so a send (connect included) ends within an emitting step's 10 s.
 */
export const emittingKafka = (config: Config, clientId: string): Kafka =>
  createKafka(config, clientId, { requestTimeout: 2_000, retry: { retries: 1, initialRetryTime: 300, maxRetryTime: 1_000 } });

/**
 * Producers hash keys the way the Java client does, so keyed events land where other services expect.
 * Connects at its first send, and again after a failed connect: a worker must start, and run its
 * timers and signals, while Kafka is down; only the steps that emit wait for it, as outages.
 * Its retries give up within an emitting step's 10 s timeout, so attempts never overlap, when
 * its Kafka client bounds each request (`emittingKafka`).
 */
export function createProducer(kafka: Kafka): Producer {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 1, initialRetryTime: 300, maxRetryTime: 1_000 },
  });
  let connected: Promise<void> | undefined;
  const connect = () =>
    (connected ??= producer.connect().catch((err: unknown) => {
      connected = undefined;
      throw err;
    }));
  return { ...producer, connect, send: async (record) => (await connect(), producer.send(record)) };
}

/** Each query is bounded, so no call hangs past its activity's (or the bridge's) timeout. */
export interface PoolOptions {
  max?: number;
  /** The server cancels a statement after this; the client gives up on a silent server a second later. */
  statementTimeoutMs?: number;
  /**
   * How long a statement waits for a lock someone else holds (an operator's open transaction)
   * before it fails as an outage, giving its connection back instead of holding it the whole time.
   */
  lockTimeoutMs?: number;
}

export function createPool(config: Config, { max = 10, statementTimeoutMs = 8_000, lockTimeoutMs = 2_000 }: PoolOptions = {}): Pool {
  const pool = new Pool({
    ...postgresConnectionOptions(config),
    max,
    // A query waiting for a free connection fails after 5 s instead of hanging past its activity's timeout.
    connectionTimeoutMillis: 5_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1_000,
    lock_timeout: lockTimeoutMs,
    // A transaction left open by a bug must not hold its locks and its connection for ever.
    idle_in_transaction_session_timeout: statementTimeoutMs,
    // A connection whose peer vanished (a network cut, not a restart) is found dead, not waited on.
    keepAlive: true,
  });
  // An idle connection dropped by a PostgreSQL restart must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err: err.message, component: 'pg' }, 'Idle PostgreSQL connection lost'));
  // pg emits 'error' on a client whose connection drops, and pg-pool listens only while it is idle:
  // one checked out for a transaction (db.connect()) would crash the process when PostgreSQL stops
  // or ends the session. Its query in flight fails by itself, and so does any later one on it; the
  // pool drops it when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * Connects lazily: a bridge started while Temporal is down still runs, and its calls fail and are
 * retried with backoff until the server is back, instead of the process exiting at start-up.
 * Starts and signals are spans of the current OpenTelemetry trace, and carry it and the current
 * correlation ID and baggage (see `withTrace`) as headers. Payloads and failures
 * are encrypted with the configured key ring (src/codec), as the workers' are.
 */
export async function createTemporalClient(
  config: Config,
  dataConverter: DataConverter = dataConverterFor(config),
): Promise<Client> {
  const connection = Connection.lazy(temporalConnectionOptions(config));
  const interceptors = { workflow: [tracingClientInterceptor(), ...traceClientInterceptors.workflow] };
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors, dataConverter });
}

/**
 * Fails a command within seconds while Redis is down (instead of queueing it until Redis is back),
 * so a non-critical cache step uses its few attempts and gives up.
 */
export function createRedis(config: Config): Redis {
  const redis = new Redis(redisConnectionUrl(config), { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  redis.on('error', (err) => logger.warn({ err: err.message, component: 'redis' }, 'Redis connection error'));
  return redis;
}
