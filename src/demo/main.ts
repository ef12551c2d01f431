import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer, createTemporalClient } from '../connections';
import { pipelines } from '../pipelines';
import type { DemoContext, Stories } from './outcomes';

/**
 * A demo stream for `npm start`: every pipeline's demo events (each declared with its descriptor),
 * the awkward parts included, then how each story ended.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  const producer = createProducer(createKafka(config, 'demo-producer'));
  await producer.connect();
  const client = await createTemporalClient(config);
  const demo: DemoContext = { config, db, producer, client, run: randomUUID().slice(0, 6) };

  const demos = pipelines.flatMap((pipeline) => (pipeline.demo ? [pipeline.demo] : []));
  const stories: Stories[] = [];
  for (const pipelineDemo of demos) stories.push(await pipelineDemo.publish(demo));

  console.log(`\nDemo run ${demo.run}: published every pipeline's events; waiting for the pipelines...`);
  for (const [i, pipelineDemo] of demos.entries()) {
    console.log(`\n${pipelineDemo.heading}\n`);
    await pipelineDemo.printOutcomes(demo, stories[i]!);
  }
  await client.connection.close();

  console.log(`\nTemporal Web UI: ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows`);
  // The path of the credential, never the credential: the terminal's scrollback is not a secret store.
  console.log(`  Payloads show encrypted until you sign in at ${config.CODEC_SERVER_URL}/login with your codec operator credential`);
  console.log(`  (the local stack's development operator's is in ${config.CODEC_OPERATOR_CREDENTIAL_FILE}; README "Reading payloads: the codec server")`);
  // Secrets never reach the terminal or its scrollback: psql takes the password from PGPASSWORD or asks.
  const database = new URL(config.DATABASE_URL);
  database.password = '';
  console.log(`Parked events: psql "${database}" -c 'SELECT id, topic, reason FROM parked_events WHERE replayed_at IS NULL'`);
  console.log(`  (the application role's password is in ${config.DATABASE_PASSWORD_FILE}: PGPASSWORD="$(cat ${config.DATABASE_PASSWORD_FILE})", or type it when psql asks)\n`);

  await producer.disconnect();
  await db.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
