import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createProducer, emittingKafka } from '../../src/connections';

/**
 * An emitting step has 10 s per attempt. A send still retrying after that would overlap the
 * step's next attempt, so the worker's producer must give up first, against a broker that is down
 * and against one that accepts connections and never answers.
 */
describe("a worker's Kafka producer", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  const sendTo = async (broker: string) => {
    const producer = createProducer(emittingKafka(loadConfig({ KAFKA_BROKERS: broker, LOG_LEVEL: 'silent' }), 'emitting-producer-test'));
    const started = Date.now();
    const error = await producer.send({ topic: 't', messages: [{ value: 'v' }] }).then(
      () => undefined,
      (err: Error) => err,
    );
    await producer.disconnect().catch(() => undefined);
    return { error, tookMs: Date.now() - started };
  };

  it('is created without Kafka, and a send fails well within the step timeout while Kafka is down', async () => {
    const { error, tookMs } = await sendTo('127.0.0.1:9');
    expect(error).toBeInstanceOf(Error);
    expect(tookMs).toBeLessThan(8_000);
  });

  it('gives up on a broker that never answers well within the step timeout', async () => {
    const { error, tookMs } = await sendTo(`127.0.0.1:${silentPort}`);
    expect(error).toBeInstanceOf(Error);
    expect(tookMs).toBeLessThan(8_000);
  }, 30_000);
});
