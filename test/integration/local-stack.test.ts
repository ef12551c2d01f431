import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchAttributes } from '../../src/contracts/pipeline';
import { pipelines, topicsOf } from '../../src/pipelines';
import { connectRealStack, type RealStack } from '../support/real-stack';

/** What `scripts/stack.sh up` must have created from the pipeline list before any pipeline runs. */
describe('the local stack, as started from the pipeline list', () => {
  let stack: RealStack;
  beforeAll(async () => {
    stack = await connectRealStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it("has every pipeline's topic, with its partitions", async () => {
    const admin = stack.kafka.admin();
    await admin.connect();
    try {
      const wanted = topicsOf(pipelines);
      const { topics } = await admin.fetchTopicMetadata({ topics: wanted.map((t) => t.topic) });
      const found = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
      expect(found).toEqual(Object.fromEntries(wanted.map((t) => [t.topic, t.partitions])));
    } finally {
      await admin.disconnect();
    }
  });

  it('has every search attribute the workflows set registered on the dev server', async () => {
    const { customAttributes } = await stack.client.connection.operatorService.listSearchAttributes({
      namespace: stack.config.TEMPORAL_NAMESPACE,
    });
    for (const key of searchAttributes) expect(Object.keys(customAttributes ?? {})).toContain(key.name);
  });

  it('runs the partner stand-ins where the config tells their clients to find them', async () => {
    const { PHARMACY_SERVICE_URL, INSURER_SERVICE_URL, CARRIER_SERVICE_URL } = stack.config;
    const health = async (url: string) => (await fetch(new URL('/health', url))).json();
    expect(await health(PHARMACY_SERVICE_URL)).toEqual({ status: 'ok', service: 'pharmacy' });
    expect(await health(INSURER_SERVICE_URL)).toEqual({ status: 'ok', service: 'insurer' });
    expect(await health(CARRIER_SERVICE_URL)).toEqual({ status: 'ok', service: 'carrier' });
  });

  it('runs the payment provider stand-in where the config tells its client to find it', async () => {
    const health = await fetch(new URL('/health', stack.config.PAYMENT_PROVIDER_URL));
    expect(await health.json()).toEqual({ status: 'ok', service: 'payment-provider' });
  });
});
