import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { Pool } from 'pg';
import { dataConverterFor } from './codec/data-converter';
import type { Config } from './config';
import { logger } from './logger';
import { traceClientInterceptors } from './trace-node';

/** Clients of the real infrastructure, built from config. Entry points and tests share these. */
export function createKafka(config: Config, clientId = config.KAFKA_CLIENT_ID): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: config.KAFKA_BROKERS,
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

/** Producers hash keys the way the Java client does, so keyed events land where other services expect. */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
}

/** `queryTimeoutMs`: for callers that must not wait on a hanging server (the bridge, which holds a Kafka session). */
export function createPool(config: Config, max = 10, queryTimeoutMs?: number): Pool {
  // A query waiting for a free connection fails after 5 s instead of hanging past its activity's timeout.
  const pool = new Pool({
    connectionString: config.DATABASE_URL,
    max,
    connectionTimeoutMillis: 5_000,
    // The server cancels the statement, and the client gives up even if the server never answers.
    ...(queryTimeoutMs ? { statement_timeout: queryTimeoutMs, query_timeout: queryTimeoutMs } : {}),
  });
  // An idle connection dropped by a PostgreSQL restart must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err: err.message, component: 'pg' }, 'Idle PostgreSQL connection lost'));
  return pool;
}

/**
 * Connects lazily: a bridge started while Temporal is down still runs, and its calls fail and are
 * retried with backoff until the server is back, instead of the process exiting at start-up.
 * Starts and signals carry the current trace as a header (see `withTrace`). Payloads and failures
 * are encrypted with the configured key ring (src/codec), as the workers' are.
 */
export async function createTemporalClient(
  config: Config,
  dataConverter: DataConverter = dataConverterFor(config),
): Promise<Client> {
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: traceClientInterceptors, dataConverter });
}

/**
 * Fails a command within seconds while Redis is down (instead of queueing it until Redis is back),
 * so a non-critical cache step uses its few attempts and gives up.
 */
export function createRedis(config: Config): Redis {
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  redis.on('error', (err) => logger.warn({ err: err.message, component: 'redis' }, 'Redis connection error'));
  return redis;
}
