import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { NativeConnection } from '@temporalio/worker';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { runBridge } from '../../src/bridges/kafka-bridge';
import { loadConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/connection-options';
import { createKafka, createPool, createProducer, createTemporalClient } from '../../src/connections';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { defaultPort } from '../../src/stack-services';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * The encrypted connections on the real stack: Kafka's TLS listener, which requires a client
 * certificate, its SASL over TLS listener, and PostgreSQL's TLS, both with the CA the stack generated (scripts/stack/tls.sh);
 * and Temporal through a TLS front that requires a client certificate, since the dev server has no TLS.
 */
describe('TLS connections on the local stack', () => {
  let stack: RealStack;
  const stateDir = process.env.STACK_STATE_DIR || path.join(homedir(), '.local', 'state', 'temporal-pipelines');
  const tls = (file: string) => path.join(stateDir, 'tls', file);
  const kafkaTls = {
    KAFKA_BROKERS: `127.0.0.1:${process.env.KAFKA_SSL_PORT || defaultPort('KAFKA_SSL_PORT')}`,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: tls('ca.crt'),
    KAFKA_SSL_CERT_FILE: tls('client.crt'),
    KAFKA_SSL_KEY_FILE: tls('client.key'),
  };
  const configWith = (env: Record<string, string>) => loadConfig({ ...process.env, ...env });
  /** Fails at the first refused connection instead of retrying. */
  const connectOnce = async (env: Record<string, string>) => {
    const admin = createKafka(configWith(env), `tls-probe-${stack.runId}`, { retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.map((b) => `${b.host}:${b.port}`);
    } finally {
      await admin.disconnect();
    }
  };
  const terminate: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
  });

  afterAll(async () => {
    await Promise.all(terminate.map((id) => stack.client.workflow.getHandle(id).terminate('test finished').catch(() => undefined)));
    await stack.stop();
  });

  it("a bridge consuming from Kafka's TLS listener, with the stack's CA and a client certificate, starts the workflow of a record produced over TLS", async () => {
    const user = `user_${stack.runId}`;
    const room = `room_${stack.runId}`;
    const taskQueue = `bookings-tls-${stack.runId}`;
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [user]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);
    await stack.startWorker(taskQueue);
    const topic = `booking-events-tls-${stack.runId}`;
    await stack.createTopics(topic, `${topic}-cancellations`);

    // The cluster answers on the TLS listener with its TLS address: every later request stays on it.
    expect(await connectOnce(kafkaTls)).toEqual([kafkaTls.KAFKA_BROKERS]);
    const kafka = createKafka(configWith(kafkaTls), `tls-bridge-${stack.runId}`);
    const producer = createProducer(kafka);
    let consumer: Consumer | undefined;
    try {
      consumer = await runBridge({
        kafka,
        client: stack.client,
        parkedEvents: stack.parkedEvents,
        groupId: `tls-bridge-${stack.runId}`,
        routes: bookingRoutes({ taskQueue, topics: { bookingEvents: topic, cancellations: `${topic}-cancellations` } }),
        maxInFlight: 4,
      });
      const bookingId = `booking_tls_${stack.runId}`;
      terminate.push(bookingWorkflowId(bookingId));
      await producer.send({ topic, messages: [{ key: bookingId, value: JSON.stringify(bookingRequested(bookingId, user, room)) }] });
      const run = await eventually(
        () => stack.client.workflow.getHandle(bookingWorkflowId(bookingId)).describe().catch(() => undefined),
        (described) => described !== undefined,
      );
      expect(run?.taskQueue).toBe(taskQueue);
      const rows = await eventually(
        async () => (await stack.db.query('SELECT booking_id FROM bookings WHERE booking_id = $1', [bookingId])).rowCount,
        (count) => count === 1,
      );
      expect(rows).toBe(1);
    } finally {
      await consumer?.disconnect();
      await producer.disconnect();
    }
  }, 120_000);

  it("refuses the TLS listener's certificate without the stack's CA, and the broker refuses a client without a certificate", async () => {
    const { KAFKA_SSL_CA_FILE: _ca, ...withoutCa } = kafkaTls;
    await expect(connectOnce(withoutCa)).rejects.toThrow(/self[- ]signed certificate/);
    const { KAFKA_SSL_CERT_FILE: _cert, KAFKA_SSL_KEY_FILE: _key, ...withoutClientCertificate } = kafkaTls;
    await expect(connectOnce(withoutClientCertificate)).rejects.toThrow(/alert bad certificate/);
  }, 60_000);

  it.each(['plain', 'scram-sha-512'])("authenticates with SASL %s on Kafka's SASL over TLS listener, the password read from its file, and is refused with a wrong one", async (mechanism) => {
    const sasl = {
      KAFKA_BROKERS: `127.0.0.1:${process.env.KAFKA_SASL_PORT || defaultPort('KAFKA_SASL_PORT')}`,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: tls('ca.crt'),
      KAFKA_SASL_MECHANISM: mechanism,
      KAFKA_SASL_USERNAME: 'pipelines',
      KAFKA_SASL_PASSWORD_FILE: path.join(stateDir, 'secrets', 'kafka-sasl-password'),
    };
    expect(await connectOnce(sasl)).toEqual([sasl.KAFKA_BROKERS]);
    const wrong = path.join(mkdtempSync(path.join(tmpdir(), 'kafka-sasl-')), 'password');
    writeFileSync(wrong, 'not-the-password\n');
    await expect(connectOnce({ ...sasl, KAFKA_SASL_PASSWORD_FILE: wrong })).rejects.toThrow(/SASL .*authentication failed/i);
  }, 60_000);

  it('a worker connection and a client reach Temporal over mTLS with the CA and client certificate TEMPORAL_TLS_* name', async () => {
    // Terminates TLS (HTTP/2 by ALPN, as gRPC asks) and passes the bytes on to the dev server, which speaks HTTP/2 without TLS.
    const clients: string[] = [];
    const front = createTlsServer(
      { key: readFileSync(tls('temporal.key')), cert: readFileSync(tls('temporal.crt')), ca: readFileSync(tls('ca.crt')), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
      (socket) => {
        clients.push(String(socket.getPeerCertificate().subject.CN));
        const upstream = net.connect(Number(stack.config.TEMPORAL_ADDRESS.split(':')[1]), stack.config.TEMPORAL_ADDRESS.split(':')[0]);
        for (const s of [socket, upstream]) s.on('error', () => s.destroy());
        socket.pipe(upstream).pipe(socket);
      },
    );
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const tlsEnv = {
      TEMPORAL_ADDRESS: `127.0.0.1:${(front.address() as net.AddressInfo).port}`,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: tls('ca.crt'),
      TEMPORAL_TLS_CLIENT_CERT_PATH: tls('client.crt'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: tls('client.key'),
    };
    const config = configWith(tlsEnv);
    try {
      const connection = await NativeConnection.connect(temporalConnectionOptions(config));
      try {
        expect((await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE })).namespaceInfo?.name).toBe(config.TEMPORAL_NAMESPACE);
      } finally {
        await connection.close();
      }
      const client = await createTemporalClient(config, {});
      try {
        expect((await client.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE })).namespaceInfo?.name).toBe(config.TEMPORAL_NAMESPACE);
      } finally {
        await client.connection.close();
      }
      expect(clients.length).toBeGreaterThanOrEqual(2);
      expect(new Set(clients)).toEqual(new Set(['temporal-pipelines client']));
      // Without the CA, the front's certificate is not trusted; without the client certificate, the front refuses the client.
      const { TEMPORAL_TLS_SERVER_CA_CERT_PATH: _ca, ...withoutCa } = tlsEnv;
      await expect(NativeConnection.connect(temporalConnectionOptions(configWith(withoutCa)))).rejects.toThrow(/UnknownIssuer/);
      const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...withoutClientCertificate } = tlsEnv;
      const accepted = clients.length;
      await expect(NativeConnection.connect(temporalConnectionOptions(configWith(withoutClientCertificate)))).rejects.toThrow(/Failed to call GetSystemInfo/);
      expect(clients.length).toBe(accepted);
    } finally {
      front.close();
    }
  });

  it("connects to PostgreSQL over TLS with DATABASE_SSL_MODE=verify-full and the stack's CA, and refuses the server's certificate without it", async () => {
    const sslOf = async (env: Record<string, string>) => {
      const pool = createPool(configWith(env), { max: 1 });
      try {
        return (await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;
      } finally {
        await pool.end();
      }
    };
    expect(await sslOf({ DATABASE_SSL_MODE: 'verify-full', DATABASE_SSL_CA_FILE: tls('ca.crt') })).toBe(true);
    expect(await sslOf({ DATABASE_SSL_MODE: 'disable' })).toBe(false);
    await expect(sslOf({ DATABASE_SSL_MODE: 'verify-full' })).rejects.toThrow(/unable to verify the first certificate/);
  });
});
