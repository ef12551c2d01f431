import type { Consumer } from 'kafkajs';
import { loadConfig } from '../config';
import { readKeyRing } from '../codec/key-ring';
import { createKafka, createPool, createTemporalClient } from '../connections';
import { logger } from '../logger';
import { installTracing, shutdownTracing } from '../opentelemetry';
import { startOpsServer } from '../ops-server';
import { bridgedPipelines, pipelines } from '../pipelines';
import { bridgeTimings, ConsumerReadiness, runBridge } from './kafka-bridge';
import { BridgeMetrics } from './metrics';
import { createParkedEvents, keepingRetention } from './parked-events';

/** Runs one Kafka→Temporal bridge per pipeline until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  installTracing(config);
  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-bridge`);
  const db = createPool(config, { statementTimeoutMs: bridgeTimings.parkingTimeoutMs });
  const client = await createTemporalClient(config);
  const parkedEvents = createParkedEvents(db, {
    ring: readKeyRing(config.PAYLOAD_KEY_RING_FILE),
    personalDataRetentionDays: config.PARKED_PERSONAL_DATA_RETENTION_DAYS,
  });
  const retention = keepingRetention(parkedEvents, logger);
  const metrics = new BridgeMetrics();
  // Reads every group's lag at each scrape of /metrics.
  const admin = kafka.admin();
  metrics.readLagWith(admin);
  const shared = {
    kafka,
    client,
    parkedEvents,
    maxInFlight: config.BRIDGE_MAX_IN_FLIGHT,
    parkingBreakerThreshold: config.BRIDGE_PARKING_BREAKER_THRESHOLD,
    startFrom: config.BRIDGE_START_FROM,
  };

  const consumers: Consumer[] = [];
  const bridges = bridgedPipelines(pipelines).map((p) => p.bridge);
  const readiness = bridges.map(() => new ConsumerReadiness());
  for (const [i, bridge] of bridges.entries()) {
    consumers.push(
      await runBridge({
        ...shared,
        groupId: bridge.consumerGroup,
        routes: bridge.routes(config),
        onConsumerGaveUp: exitForRestart,
        readiness: readiness[i],
        metrics: metrics.forGroup(bridge.consumerGroup),
      }),
    );
  }
  // The runs a pipeline starts from a table rather than a topic (the payment ledger's).
  const runStarters = pipelines.flatMap((p) => (p.runStarter ? [p.runStarter({ db, client })] : []));
  await Promise.all(runStarters.map((starter) => starter.start()));
  logger.info({ groups: bridges.map((b) => b.consumerGroup) }, 'Bridges started');
  // Ready: Temporal answers and every bridge's consumer is in its group (not rebalancing, stopped or crashed).
  const ops =
    config.OPS_PORT &&
    (await startOpsServer(config.OPS_PORT, [
      { name: 'temporal', check: async () => void (await client.workflowService.getSystemInfo({})) },
      ...bridges.map((bridge, i) => ({ name: `consumer:${bridge.consumerGroup}`, check: () => readiness[i]!.notReady })),
    ], config.OPS_HOST, metrics.registry));

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping bridges');
    if (ops) ops.close();
    clearInterval(retention);
    await Promise.all([...consumers.map((c) => c.disconnect()), ...runStarters.map((starter) => starter.stop())]);
    await admin.disconnect();
    await db.end();
    await client.connection.close();
    await shutdownTracing();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * A consumer kafkajs gave up on consumes nothing while the process looks alive: exit non-zero, so
 * the supervisor (docker compose `restart`, systemd, Kubernetes) starts the bridge again.
 */
function exitForRestart(error: Error): void {
  logger.fatal({ err: error }, 'A Kafka consumer stopped for good; exiting so the bridge is restarted');
  process.exit(1);
}

main().catch((err) => {
  logger.fatal({ err }, 'Bridge failed to start');
  process.exit(1);
});
