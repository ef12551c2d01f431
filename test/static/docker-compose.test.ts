import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables, loadConfig } from '../../src/config';

/**
 * No Docker engine runs here, so docker-compose.yml is checked against the code it must agree
 * with: the config module's variables and defaults (the pipeline list's topics and search
 * attributes are checked in pipelines.test.ts).
 */
const root = path.resolve(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const services: Record<string, any> = compose.services;
const defaults = loadConfig({});
const port = (hostPort: string) => Number(hostPort.split(':').at(-1));
const publishedPorts = (service: string) =>
  (services[service].ports as string[]).map((p) => Number(p.split(':').at(-2)));

describe('docker-compose.yml', () => {
  it('runs the whole system: Temporal, Kafka, PostgreSQL, Redis, admin service, migrations, workers and bridges', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['temporal', 'kafka', 'postgres', 'redis', 'admin-service', 'migrate', 'workers', 'bridges']),
    );
  });

  it('gives the application services only variables the config module knows', () => {
    const known = new Set(configVariables);
    for (const name of ['migrate', 'admin-service', 'workers', 'bridges']) {
      const unknown = Object.keys(services[name].environment).filter((v) => !known.has(v));
      expect({ service: name, unknown }).toEqual({ service: name, unknown: [] });
      // And the values are valid config.
      expect(() => loadConfig(services[name].environment)).not.toThrow();
    }
  });

  it('runs entry points that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) continue;
      const entry = (service.command as string[]).find((arg) => arg.endsWith('.ts'));
      expect({ service: name, exists: entry !== undefined && existsSync(path.join(root, entry)) }).toEqual({
        service: name,
        exists: true,
      });
    }
  });

  it('publishes the same ports on loopback that the local stack and config defaults use', () => {
    expect(publishedPorts('temporal')).toEqual([port(defaults.TEMPORAL_ADDRESS), Number(new URL(defaults.TEMPORAL_UI_URL).port)]);
    expect(publishedPorts('kafka')).toEqual([port(defaults.KAFKA_BROKERS[0]!)]);
    expect(publishedPorts('postgres')).toEqual([Number(new URL(defaults.DATABASE_URL).port)]);
    expect(publishedPorts('redis')).toEqual([Number(new URL(defaults.REDIS_URL).port)]);
    expect(publishedPorts('admin-service')).toEqual([defaults.ADMIN_SERVICE_PORT]);
    for (const service of Object.values(services)) {
      for (const p of (service.ports ?? []) as string[]) expect(p).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('uses the database the config module defaults to', () => {
    expect(services.postgres.environment.POSTGRES_DB).toBe(new URL(defaults.DATABASE_URL).pathname.slice(1));
  });
});
