import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newKeyRing, writeKeyRing } from '../../src/codec/key-ring';
import { loadConfig } from '../../src/config';
import {
  isLoopback,
  kafkaConnectionOptions,
  postgresConnectionOptions,
  redisConnectionUrl,
  temporalConnectionOptions,
} from '../../src/connection-options';
import { createKafka, createPool, createRedis, createTemporalClient } from '../../src/connections';

/** The options each client is built with (src/connection-options.ts), from the settings of src/config.ts. */
describe('connection options', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'connection-options-'));
  const file = (name: string, text: string) => {
    const at = path.join(dir, name);
    writeFileSync(at, text);
    return at;
  };
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nthe CA\n-----END CERTIFICATE-----\n');
  const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nthe client\n-----END CERTIFICATE-----\n');
  const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nthe client key\n-----END PRIVATE KEY-----\n');
  const apiKeyFile = file('temporal-api-key', 'the-api-key\n');
  const saslPasswordFile = file('kafka-password', 'the-sasl-password\n');
  const readFile = (at: string) => readFileSync(at, 'utf8');
  const readCa = () => readFile(ca);
  const bytes = (text: string) => new Uint8Array(Buffer.from(text));
  // No HOME: envconfig reads no user profile file, only what a test names.
  const configWith = (env: Record<string, string> = {}) => loadConfig({ STACK_STATE_DIR: dir, ...env });

  describe('Temporal, through its environment configuration', () => {
    it("connects to the local stack in plaintext by default: loopback needs no TLS", () => {
      const config = configWith();
      expect(temporalConnectionOptions(config)).toEqual({ address: config.TEMPORAL_ADDRESS, tls: undefined, apiKey: undefined, metadata: undefined });
      expect(config.TEMPORAL_ADDRESS).toMatch(/^127\.0\.0\.1:/);
      expect(config.TEMPORAL_NAMESPACE).toBe('default');
    });

    it('uses TLS with a private CA and a server name from the TEMPORAL_TLS_* variables', () => {
      const config = configWith({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_NAMESPACE: 'pipelines',
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
        TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
      });
      expect(config.TEMPORAL_NAMESPACE).toBe('pipelines');
      expect(temporalConnectionOptions(config)).toMatchObject({
        address: 'temporal.internal:7233',
        tls: { serverRootCACertificate: bytes(readCa()), serverNameOverride: 'frontend.temporal.internal', clientCertPair: undefined },
      });
    });

    it("uses mTLS, the address and the namespace of the profile TEMPORAL_PROFILE names in TEMPORAL_CONFIG_FILE (Temporal Cloud's certificates)", () => {
      const toml = file(
        'temporal.toml',
        `[profile.default]\naddress = "127.0.0.1:7233"\n\n[profile.cloud]\naddress = "pipelines.a1b2c.tmprl.cloud:7233"\nnamespace = "pipelines.a1b2c"\n[profile.cloud.tls]\nclient_cert_path = "${cert}"\nclient_key_path = "${key}"\n`,
      );
      const config = configWith({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' });
      expect([config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE]).toEqual(['pipelines.a1b2c.tmprl.cloud:7233', 'pipelines.a1b2c']);
      expect(temporalConnectionOptions(config)).toMatchObject({
        address: 'pipelines.a1b2c.tmprl.cloud:7233',
        tls: { clientCertPair: { crt: bytes(readFile(cert)), key: bytes(readFile(key)) } },
        apiKey: undefined,
      });
      // A variable still wins over the file, as for the temporal CLI.
      expect(configWith({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud', TEMPORAL_NAMESPACE: 'other' }).TEMPORAL_NAMESPACE).toBe('other');
    });

    it("sends the API key from TEMPORAL_API_KEY_FILE, over TLS without further settings (Temporal Cloud's API keys)", () => {
      const config = configWith({ TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_API_KEY_FILE: apiKeyFile });
      expect(temporalConnectionOptions(config)).toMatchObject({ address: 'us-east-1.aws.api.temporal.io:7233', apiKey: 'the-api-key', tls: true });
      // Read when the connection is built: the key is not in the config object.
      expect(JSON.stringify(config)).not.toContain('the-api-key');
    });

    it('refuses plaintext to a Temporal that is not loopback, an API key over TEMPORAL_TLS=false included, unless ALLOW_PLAINTEXT_TO names it', () => {
      const refusal = /Refusing a plaintext connection to Temporal \(TEMPORAL_ADDRESS\) on temporal\.internal, which is not loopback\. Set TEMPORAL_TLS=true.*add temporal\.internal to ALLOW_PLAINTEXT_TO/;
      expect(() => temporalConnectionOptions(configWith({ TEMPORAL_ADDRESS: 'temporal.internal:7233' }))).toThrow(refusal);
      expect(() => temporalConnectionOptions(configWith({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS: 'false', TEMPORAL_API_KEY_FILE: apiKeyFile }))).toThrow(refusal);
      expect(temporalConnectionOptions(configWith({ TEMPORAL_ADDRESS: 'temporal.internal:7233', ALLOW_PLAINTEXT_TO: 'kafka, Temporal.Internal' }))).toMatchObject({ tls: undefined });
      expect(temporalConnectionOptions(configWith({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS: 'true' }))).toMatchObject({ tls: {} });
    });

    it('refuses an API key given both in a file and in the profile, and a profile the file does not have', () => {
      expect(() => configWith({ TEMPORAL_API_KEY_FILE: apiKeyFile, TEMPORAL_API_KEY: 'another' })).toThrow(/TEMPORAL_API_KEY_FILE: the Temporal profile has an API key already/);
      expect(() => configWith({ TEMPORAL_CONFIG_FILE: file('other.toml', '[profile.default]\naddress = "127.0.0.1:7233"\n'), TEMPORAL_PROFILE: 'missing' })).toThrow(/the Temporal profile: Profile 'missing' not found/);
    });
  });

  describe('Kafka', () => {
    it('uses TLS with the CA and the client certificate (mTLS) from their files', () => {
      const config = configWith({ KAFKA_BROKERS: 'b-1.kafka.internal:9094,b-2.kafka.internal:9094', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key });
      expect(kafkaConnectionOptions(config)).toEqual({
        brokers: ['b-1.kafka.internal:9094', 'b-2.kafka.internal:9094'],
        ssl: { ca: [readCa()], cert: readFile(cert), key: readFile(key) },
        sasl: undefined,
      });
      expect(kafkaConnectionOptions(configWith({ KAFKA_BROKERS: 'kafka.example:9093', KAFKA_SSL: 'true' })).ssl).toBe(true);
    });

    it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('authenticates with SASL %s, its password read from KAFKA_SASL_PASSWORD_FILE', (mechanism) => {
      const config = configWith({
        KAFKA_BROKERS: 'pkc-12345.eu-west-1.aws.confluent.cloud:9092',
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: 'pipelines',
        KAFKA_SASL_PASSWORD_FILE: saslPasswordFile,
      });
      expect(kafkaConnectionOptions(config)).toMatchObject({ ssl: true, sasl: { mechanism, username: 'pipelines', password: 'the-sasl-password' } });
      expect(JSON.stringify(config)).not.toContain('the-sasl-password');
    });

    it('refuses plaintext to brokers that are not loopback, SASL without TLS included, naming only the brokers refused', () => {
      const sasl = { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'pipelines', KAFKA_SASL_PASSWORD_FILE: saslPasswordFile };
      expect(() => kafkaConnectionOptions(configWith({ KAFKA_BROKERS: '127.0.0.1:9092,kafka.internal:9092' }))).toThrow(
        /^Refusing a plaintext connection to Kafka \(KAFKA_BROKERS\) on kafka\.internal, which is not loopback\. Set KAFKA_SSL=true .*add kafka\.internal to ALLOW_PLAINTEXT_TO\.$/,
      );
      expect(() => kafkaConnectionOptions(configWith({ KAFKA_BROKERS: 'kafka.internal:9092', ...sasl }))).toThrow(/Kafka \(KAFKA_BROKERS, SASL plain sends its credentials\) on kafka\.internal/);
      expect(kafkaConnectionOptions(configWith({ KAFKA_BROKERS: 'kafka:29092', ALLOW_PLAINTEXT_TO: 'kafka' }))).toMatchObject({ ssl: false });
      expect(kafkaConnectionOptions(configWith({ KAFKA_BROKERS: 'localhost:9092,[::1]:9092', ...sasl }))).toMatchObject({ ssl: false, sasl: { mechanism: 'plain' } });
    });

    it('refuses settings that do not go together, without quoting a value', () => {
      expect(() => configWith({ KAFKA_SSL_CA_FILE: ca })).toThrow(/KAFKA_SSL: must be true when KAFKA_SSL_CA_FILE/);
      expect(() => configWith({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: cert })).toThrow(/KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE: set both/);
      expect(() => configWith({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'pipelines' })).toThrow(/KAFKA_SASL_MECHANISM: needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE/);
      expect(() => configWith({ KAFKA_SASL_USERNAME: 'pipelines' })).toThrow(/KAFKA_SASL_MECHANISM: must be set/);
      expect(() => configWith({ KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/KAFKA_SASL_MECHANISM/);
    });
  });

  describe('PostgreSQL', () => {
    const remote = 'postgres://pipelines_app:the-db-password@db.internal:5432/pipelines';

    it('maps DATABASE_SSL_MODE to TLS options as libpq reads sslmode, with the CA from DATABASE_SSL_CA_FILE', () => {
      const ssl = (mode: string, env: Record<string, string> = {}) => postgresConnectionOptions(configWith({ DATABASE_URL: remote, DATABASE_SSL_MODE: mode, ...env })).ssl;
      expect(postgresConnectionOptions(configWith({ DATABASE_URL: 'postgres://pipelines_app@127.0.0.1:5432/pipelines' }))).toEqual({
        connectionString: 'postgres://pipelines_app@127.0.0.1:5432/pipelines',
        ssl: false,
      });
      expect(ssl('require')).toEqual({ rejectUnauthorized: false });
      expect(ssl('verify-full', { DATABASE_SSL_CA_FILE: ca })).toEqual({ ca: readCa(), rejectUnauthorized: true });
      const verifyCa = ssl('verify-ca', { DATABASE_SSL_CA_FILE: ca });
      expect(verifyCa).toMatchObject({ ca: readCa(), rejectUnauthorized: true });
      // verify-ca checks the chain and not the name.
      expect(verifyCa && verifyCa.checkServerIdentity!('another.host', {} as never)).toBeUndefined();
    });

    it("refuses plaintext to a server that is not loopback, for the owner's URL too, without the password in the refusal", () => {
      const refused = (env: Record<string, string>) => {
        try {
          postgresConnectionOptions(configWith(env));
        } catch (err) {
          return (err as Error).message;
        }
        return 'not refused';
      };
      const message = refused({ DATABASE_URL: remote });
      expect(message).toMatch(/^Refusing a plaintext connection to PostgreSQL \(DATABASE_URL, MIGRATION_DATABASE_URL\) on db\.internal, which is not loopback\. Set DATABASE_SSL_MODE=verify-full/);
      expect(message).not.toContain('the-db-password');
      expect(refused({ DATABASE_URL: remote, ALLOW_PLAINTEXT_TO: 'db.internal' })).toBe('not refused');
      expect(refused({ DATABASE_URL: 'postgres://pipelines_app@db.internal/pipelines?host=/var/run/postgresql' })).toBe('not refused');
      expect(() => createPool(configWith({ DATABASE_URL: remote }))).toThrow(/Refusing a plaintext connection to PostgreSQL/);
    });

    it('refuses sslmode in the URL: DATABASE_SSL_MODE is the one place', () => {
      expect(() => configWith({ DATABASE_URL: `${remote}?sslmode=require` })).toThrow(/DATABASE_URL: has sslmode; use DATABASE_SSL_MODE/);
      expect(() => configWith({ DATABASE_SSL_CA_FILE: ca })).toThrow(/DATABASE_SSL_MODE: must not be disable/);
    });
  });

  describe('Redis', () => {
    it('refuses redis:// to a host that is not loopback, and takes rediss:// as TLS', () => {
      expect(() => redisConnectionUrl(configWith({ REDIS_URL: 'redis://cache.internal:6379' }))).toThrow(
        /Refusing a plaintext connection to Redis \(REDIS_URL\) on cache\.internal, which is not loopback\. Use a rediss:\/\/ URL/,
      );
      expect(redisConnectionUrl(configWith({ REDIS_URL: 'rediss://cache.internal:6380' }))).toBe('rediss://cache.internal:6380');
      expect(() => createRedis(configWith({ REDIS_URL: 'redis://cache.internal:6379' }))).toThrow(/Refusing a plaintext connection to Redis/);
    });
  });

  it('builds every client through these options, so each refuses at start', async () => {
    expect(() => createKafka(configWith({ KAFKA_BROKERS: 'kafka.internal:9092' }))).toThrow(/Refusing a plaintext connection to Kafka/);
    await expect(createTemporalClient(configWith({ TEMPORAL_ADDRESS: 'temporal.internal:7233' }), {})).rejects.toThrow(/Refusing a plaintext connection to Temporal/);
  });

  // Each connects after its first client is built: a refused one stops the process before any connection.
  it.each([
    ['workers', 'src/workers/main.ts', { TEMPORAL_ADDRESS: 'temporal.internal:7233' }, /Refusing a plaintext connection to Temporal/],
    ['bridges', 'src/bridges/main.ts', { KAFKA_BROKERS: 'kafka.internal:9092' }, /Refusing a plaintext connection to Kafka/],
    ['payment API', 'src/payment-api/main.ts', { DATABASE_URL: 'postgres://pipelines_app:the-db-password@db.internal/pipelines' }, /Refusing a plaintext connection to PostgreSQL/],
  ])('the %s process refuses at start, exits non-zero and logs why, without the password', (_name, entry, env, refusal) => {
    const keyRing = path.join(dir, 'payload-key-ring.json');
    writeKeyRing(keyRing, newKeyRing());
    const run = spawnSync(process.execPath, ['--import', 'tsx', entry], {
      cwd: path.resolve(__dirname, '..', '..'),
      env: { PATH: process.env.PATH, STACK_STATE_DIR: dir, PAYLOAD_KEY_RING_FILE: keyRing, LOG_LEVEL: 'info', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    const fatal = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((line) => line.level === 'fatal');
    expect(fatal?.err?.message).toMatch(refusal);
    expect(run.stdout + run.stderr).not.toContain('the-db-password');
  });

  it("npm run temporal gives the CLI the API key from TEMPORAL_API_KEY_FILE, and leaves a chosen profile's address to the profile", () => {
    // A stand-in for the pinned CLI, in a cache of its own: it prints what it was given.
    const root = path.resolve(__dirname, '..', '..');
    const cache = mkdtempSync(path.join(tmpdir(), 'temporal-cli-cache-'));
    const cli = path.join(cache, `temporal-cli-${readFileSync(path.join(root, 'scripts/temporal-cli/VERSION'), 'utf8').trim()}`, 'temporal');
    mkdirSync(path.dirname(cli));
    writeFileSync(cli, '#!/bin/sh\necho "address=${TEMPORAL_ADDRESS:-unset} key=${TEMPORAL_API_KEY:-unset}"\n', { mode: 0o755 });
    const run = (env: Record<string, string>) =>
      spawnSync('bash', ['scripts/temporal.sh', 'workflow', 'list'], {
        cwd: root,
        // STACK_NODE_SERVICES set: lib.sh then takes the ports from the environment instead of reading the service list.
        env: { PATH: process.env.PATH, HOME: dir, STACK_CACHE_DIR: cache, STACK_STATE_DIR: dir, STACK_NODE_SERVICES: 'given', TEMPORAL_PORT: '7233', ...env },
        encoding: 'utf8',
      }).stdout.trim();
    expect(run({})).toBe('address=127.0.0.1:7233 key=unset');
    expect(run({ TEMPORAL_API_KEY_FILE: apiKeyFile, TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233' })).toBe('address=eu-west-1.aws.api.temporal.io:7233 key=the-api-key');
    expect(run({ TEMPORAL_PROFILE: 'cloud' })).toBe('address=unset key=unset');
  });

  it('takes loopback as 127.0.0.0/8, ::1 and localhost, and no other name or address', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: true });
    for (const host of ['10.0.0.1', '0.0.0.0', 'localhost.example.com', 'kafka', '::ffff:10.0.0.1', '128.0.0.1']) {
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: false });
    }
  });
});
