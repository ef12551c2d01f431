import { parseArgs } from 'node:util';
import { loadConfig } from './config';
import { createKafka } from './connections';
import { pipelines, topicsOf, type TopicSpec } from './pipelines';

/**
 * Creates every topic the pipelines read or write that does not exist yet, plus EXTRA_TOPICS
 * (`name` or `name:partitions`, comma or space separated). Run by the local stack and by
 * docker-compose.yml's kafka-topics service; waits up to --timeout-ms for the broker to answer,
 * so it doubles as the stack's Kafka health check.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'timeout-ms': { type: 'string', default: '30000' } } });
  const deadline = Date.now() + Number(values['timeout-ms']);
  const wanted = [...topicsOf(pipelines), ...extraTopics(process.env.EXTRA_TOPICS ?? '')];
  const admin = createKafka(loadConfig(), 'create-topics').admin();

  for (let attempt = 1; ; attempt++) {
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((t) => !existing.has(t.topic));
      if (missing.length > 0) {
        await admin.createTopics({
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions })),
          waitForLeaders: true,
        });
      }
      console.log(missing.length ? `created topics ${missing.map((t) => t.topic).join(', ')}` : `all ${wanted.length} topics present`);
      break;
    } catch (err) {
      // A broker that is still joining its quorum refuses for a while; only the deadline ends it.
      if (Date.now() > deadline) throw err;
      await admin.disconnect().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2_000)));
    }
  }
  await admin.disconnect();
}

function extraTopics(list: string): TopicSpec[] {
  return list
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((entry) => {
      const [topic, partitions] = entry.split(':');
      return { topic: topic!, partitions: partitions ? Number(partitions) : 3 };
    });
}

main().catch((err) => {
  console.error(`cannot create topics: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
