import { readFileSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { toClientOptions, type ClientConnectConfig } from '@temporalio/envconfig';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import type { Config } from './config';

/**
 * The options every client of Temporal, Kafka, PostgreSQL and Redis is built with, from the
 * settings in src/config.ts; src/connections.ts and the scripts build their clients from these.
 * Each also applies the plaintext rule: a connection without TLS goes only to a loopback address
 * or a host named in ALLOW_PLAINTEXT_TO. Secret files are read here, when a client is built, so
 * no secret given as a file is part of the config object (envconfig's TEMPORAL_API_KEY, a value, is).
 */

/** One connection as the plaintext rule sees it. */
export interface Endpoint {
  /** What the refusal calls it, with the setting that names the address. */
  readonly name: string;
  readonly hosts: readonly string[];
  readonly encrypted: boolean;
  /** How to encrypt it, for the refusal. */
  readonly fix: string;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '') return true;
  try {
    return loopback.check(bare, isIPv6(bare) ? 'ipv6' : 'ipv4');
  } catch {
    // A name, not an address: only `localhost` is taken on trust.
    return false;
  }
}

/** The host of `host:port` (Temporal, Kafka) or of a URL (PostgreSQL, Redis). */
export function hostOf(address: string): string {
  if (address.includes('://')) return new URL(address).hostname.replace(/^\[|\]$/g, '');
  const bracketed = /^\[([^\]]+)\]/.exec(address);
  return bracketed ? bracketed[1]! : address.split(':')[0]!;
}

/** Throws, naming the connection and the fix, unless `endpoint` is encrypted or each host may be reached in plaintext. */
export function refusePlaintext(config: Pick<Config, 'ALLOW_PLAINTEXT_TO'>, endpoint: Endpoint): void {
  if (endpoint.encrypted) return;
  const refused = endpoint.hosts.filter((host) => !isLoopback(host) && !config.ALLOW_PLAINTEXT_TO.includes(host.toLowerCase()));
  if (!refused.length) return;
  throw new Error(
    `Refusing a plaintext connection to ${endpoint.name} on ${refused.join(', ')}, which is not loopback. ` +
      `${endpoint.fix}; or, on a network you trust, add ${refused.join(',')} to ALLOW_PLAINTEXT_TO.`,
  );
}

const readSecret = (file: string) => readFileSync(file, 'utf8').trim();

// ---------------------------------------------------------------- Temporal

export function temporalEndpoint(config: Config): Endpoint {
  const { tls } = config.temporalProfile;
  const hasKey = config.temporalProfile.apiKey !== undefined || config.TEMPORAL_API_KEY_FILE !== undefined;
  return {
    name: 'Temporal (TEMPORAL_ADDRESS)',
    hosts: [hostOf(config.TEMPORAL_ADDRESS)],
    // envconfig's own rule (toClientOptions): TLS when the profile has TLS settings not disabled, or an API key.
    encrypted: tls ? tls.disabled !== true : hasKey,
    fix: 'Set TEMPORAL_TLS=true (TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA), or the tls table of the Temporal profile',
  };
}

/**
 * For NativeConnection (workers) and Connection (clients) alike: the address, TLS (mTLS with a
 * client certificate), the API key and gRPC metadata of the Temporal profile, as envconfig turns a
 * profile into connection options.
 */
export function temporalConnectionOptions(config: Config): ClientConnectConfig['connectionOptions'] {
  refusePlaintext(config, temporalEndpoint(config));
  const apiKey = config.TEMPORAL_API_KEY_FILE ? readSecret(config.TEMPORAL_API_KEY_FILE) : config.temporalProfile.apiKey;
  return toClientOptions({ ...config.temporalProfile, apiKey, address: config.TEMPORAL_ADDRESS }).connectionOptions;
}

// ---------------------------------------------------------------- Kafka

export function kafkaEndpoint(config: Config): Endpoint {
  return {
    name: `Kafka (KAFKA_BROKERS${config.KAFKA_SASL_MECHANISM ? `, SASL ${config.KAFKA_SASL_MECHANISM} sends its credentials` : ''})`,
    hosts: config.KAFKA_BROKERS.map(hostOf),
    encrypted: config.KAFKA_SSL,
    fix: 'Set KAFKA_SSL=true (KAFKA_SSL_CA_FILE for a private CA)',
  };
}

/** The brokers with TLS and SASL as configured, for `new Kafka(...)`. */
export function kafkaConnectionOptions(config: Config): Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> {
  refusePlaintext(config, kafkaEndpoint(config));
  return { brokers: config.KAFKA_BROKERS, ssl: kafkaTls(config), sasl: kafkaSasl(config) };
}

function kafkaTls(config: Config): TlsOptions | boolean {
  if (!config.KAFKA_SSL) return false;
  const { KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key } = config;
  if (!ca && !cert) return true;
  return {
    ...(ca && { ca: [readFileSync(ca, 'utf8')] }),
    ...(cert && key && { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }),
  };
}

function kafkaSasl(config: Config): SASLOptions | undefined {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD_FILE: passwordFile } = config;
  if (!mechanism || !username || !passwordFile) return undefined;
  return { mechanism, username, password: readSecret(passwordFile) };
}

// ---------------------------------------------------------------- PostgreSQL

/** For the pool of `config.DATABASE_URL` (the owner's, through `asOwner`). */
export function postgresEndpoint(config: Config): Endpoint {
  const url = new URL(config.DATABASE_URL);
  // A URL without a host, or with `?host=/path`, reaches the server over a Unix socket.
  const socket = url.searchParams.get('host')?.startsWith('/');
  return {
    name: 'PostgreSQL (DATABASE_URL, MIGRATION_DATABASE_URL)',
    hosts: socket ? [] : [url.hostname],
    encrypted: config.DATABASE_SSL_MODE !== 'disable',
    fix: 'Set DATABASE_SSL_MODE=verify-full (DATABASE_SSL_CA_FILE for a private CA)',
  };
}

/** `new Pool({ connectionString, ssl })`: DATABASE_SSL_MODE as libpq's sslmode reads. */
export function postgresConnectionOptions(config: Config): { connectionString: string; ssl: TlsOptions | false } {
  refusePlaintext(config, postgresEndpoint(config));
  return { connectionString: config.DATABASE_URL, ssl: postgresTls(config) };
}

function postgresTls(config: Config): TlsOptions | false {
  const ca = config.DATABASE_SSL_CA_FILE && { ca: readFileSync(config.DATABASE_SSL_CA_FILE, 'utf8') };
  switch (config.DATABASE_SSL_MODE) {
    case 'disable':
      return false;
    case 'require':
      return { ...ca, rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is checked, the name in the certificate is not.
      return { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...ca, rejectUnauthorized: true };
  }
}

// ---------------------------------------------------------------- Redis

export function redisEndpoint(config: Config): Endpoint {
  return {
    name: 'Redis (REDIS_URL)',
    hosts: [hostOf(config.REDIS_URL)],
    encrypted: new URL(config.REDIS_URL).protocol === 'rediss:',
    fix: 'Use a rediss:// URL',
  };
}

/** ioredis takes TLS from a `rediss://` URL itself; this checks the rule and hands the URL on. */
export function redisConnectionUrl(config: Config): string {
  refusePlaintext(config, redisEndpoint(config));
  return config.REDIS_URL;
}

/** Every connection a process of this project may open, for checks that want them all (compose's). */
export const endpoints = (config: Config): Endpoint[] => [temporalEndpoint(config), kafkaEndpoint(config), postgresEndpoint(config), redisEndpoint(config)];
