import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { VersioningBehavior } from '@temporalio/common';
import { loadClientConfigProfile, type ClientConfigProfile } from '@temporalio/envconfig';
import { z } from 'zod';
import { parseStartPosition, startPositionHint } from './bridges/start-position';
import { settingsProfiles } from './pipelines/pipeline-settings';
import { describeProblems } from './schema-problems';
import { defaultPort, defaultUrl } from './stack-services';

/**
 * The one place configuration is read. Every process (workers, bridges, scripts, tests) calls
 * `loadConfig()`; the address defaults are what `scripts/stack.sh up` starts on loopback (from
 * src/stack-services.ts), and docker-compose.yml sets the same names. A pipeline's own variables
 * are declared with its descriptor (src/pipelines/<pipeline>-settings.ts), which reads them.
 */
const optionalPath = z.string().min(1).optional();
const flag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');
/** A URL, or unset; empty counts as unset, as compose writes `\${VAR:-}`. */
const optionalUrl = z.preprocess((v) => v || undefined, z.string().url().optional());

const schema = z.object({
  /**
   * How every process reaches Temporal is a profile of Temporal's environment configuration
   * (@temporalio/envconfig, as the `temporal` CLI reads it): the TOML file TEMPORAL_CONFIG_FILE
   * (default ~/.config/temporalio/temporal.toml, if it exists), its profile TEMPORAL_PROFILE
   * (default `default`), and over both the TEMPORAL_* variables below. The address defaults to
   * the local stack's, the namespace to `default`. docs/production/connections.md has examples.
   */
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_CONFIG_FILE: optionalPath,
  TEMPORAL_PROFILE: z.string().min(1).optional(),
  /** `true` for TLS with the system's CAs; implied by any other TLS setting or an API key. `false` turns it off. */
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: optionalPath,
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** mTLS: the client certificate and its key (Temporal Cloud's certificate authentication). */
  TEMPORAL_TLS_CLIENT_CERT_PATH: optionalPath,
  TEMPORAL_TLS_CLIENT_KEY_PATH: optionalPath,
  /**
   * A file holding the API key (Temporal Cloud's API-key authentication), read when the connection
   * is built. envconfig's own TEMPORAL_API_KEY (the key itself in the environment) works too; not both.
   */
  TEMPORAL_API_KEY_FILE: optionalPath,
  TEMPORAL_UI_URL: z.string().url().default(defaultUrl('TEMPORAL_UI_URL')),
  KAFKA_BROKERS: z
    .string()
    .default(defaultUrl('KAFKA_BROKERS'))
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  KAFKA_CLIENT_ID: z.string().default('temporal-pipelines'),
  /** TLS to the brokers (the SSL and SASL_SSL protocols); the system's CAs unless KAFKA_SSL_CA_FILE names one. */
  KAFKA_SSL: flag,
  KAFKA_SSL_CA_FILE: optionalPath,
  /** mTLS: the client certificate (PEM) and its key, for a listener with `ssl.client.auth=required`. */
  KAFKA_SSL_CERT_FILE: optionalPath,
  KAFKA_SSL_KEY_FILE: optionalPath,
  /** SASL authentication (Confluent Cloud: `plain`; MSK and most others: `scram-sha-512`), with its user and a file holding the password. */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: optionalPath,
  /**
   * Every process connects as the application role, `pipelines_app`: no superuser, owner of none of
   * our tables, and on the audit log only SELECT and INSERT (migrations/009). Its password comes
   * from DATABASE_PASSWORD_FILE when the URL has none.
   */
  DATABASE_URL: z.string().url().default(defaultUrl('DATABASE_URL')),
  DATABASE_PASSWORD_FILE: z.string().min(1),
  /**
   * Migrations run as the owner role, `pipelines_owner`, which owns the tables and so could bypass
   * the audit log's protection: only the migrations connect with it (`npm run migrate`, compose's
   * `migrate` job, the only service given its password), and tests that must clean up. Unset, the
   * server and database of DATABASE_URL as `pipelines_owner`, with MIGRATION_DATABASE_PASSWORD_FILE's password.
   */
  MIGRATION_DATABASE_URL: z.string().url(),
  MIGRATION_DATABASE_PASSWORD_FILE: z.string().min(1),
  /**
   * TLS to PostgreSQL, for DATABASE_URL and MIGRATION_DATABASE_URL alike, as libpq's `sslmode`:
   * `disable`; `require` (encrypted, the server's certificate not checked); `verify-ca` (signed by
   * DATABASE_SSL_CA_FILE, or a CA the system trusts); `verify-full` (that, and issued to the URL's host).
   * Set here, not as `sslmode` in the URL (refused), so every pool reads it from one place.
   */
  DATABASE_SSL_MODE: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable'),
  DATABASE_SSL_CA_FILE: optionalPath,
  /** `rediss://` for TLS (the system's CAs, or NODE_EXTRA_CA_CERTS). */
  REDIS_URL: z.string().url().default(defaultUrl('REDIS_URL')),
  /**
   * Hosts (comma-separated) a process may reach in plaintext although they are not loopback: every
   * connection to Temporal, Kafka, PostgreSQL or Redis without TLS to any other host is refused at
   * start (src/connection-options.ts). For a network you trust, such as compose's own.
   */
  ALLOW_PLAINTEXT_TO: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
  ADMIN_SERVICE_URL: z.string().url().default(defaultUrl('ADMIN_SERVICE_URL')),
  ADMIN_SERVICE_PORT: z.coerce.number().int().positive().default(defaultPort('ADMIN_SERVICE_PORT')),
  /**
   * The outside systems prescription fulfillment calls. Locally one stand-in process serves all
   * three (stand-ins/partner-services, started by `scripts/stack.sh up`); each listens on its *_PORT.
   */
  PHARMACY_SERVICE_URL: z.string().url().default(defaultUrl('PHARMACY_SERVICE_URL')),
  PHARMACY_SERVICE_PORT: z.coerce.number().int().positive().default(defaultPort('PHARMACY_SERVICE_PORT')),
  INSURER_SERVICE_URL: z.string().url().default(defaultUrl('INSURER_SERVICE_URL')),
  INSURER_SERVICE_PORT: z.coerce.number().int().positive().default(defaultPort('INSURER_SERVICE_PORT')),
  CARRIER_SERVICE_URL: z.string().url().default(defaultUrl('CARRIER_SERVICE_URL')),
  CARRIER_SERVICE_PORT: z.coerce.number().int().positive().default(defaultPort('CARRIER_SERVICE_PORT')),
  /** The card processor the payment pipeline charges and refunds through (stand-ins/payment-provider locally). */
  PAYMENT_PROVIDER_URL: z.string().url().default(defaultUrl('PAYMENT_PROVIDER_URL')),
  PAYMENT_PROVIDER_PORT: z.coerce.number().int().positive().default(defaultPort('PAYMENT_PROVIDER_PORT')),
  /**
   * Per HTTP call to a partner (the payment provider included); a call still unanswered then fails as retryable (an outage), so an
   * activity's start-to-close timeout should be above it.
   */
  PARTNER_CALL_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** The payment API (src/payment-api): where payments are accepted, and where a copay's payment link points. */
  PAYMENT_API_URL: z.string().url().default(defaultUrl('PAYMENT_API_URL')),
  PAYMENT_API_PORT: z.coerce.number().int().positive().default(defaultPort('PAYMENT_API_PORT')),
  /**
   * Accepted payments one payment API process holds for their run's start, past which it answers
   * 503 with Retry-After: each row is durable already, but a client is better told to come back
   * than accepted into a backlog Temporal takes many minutes to start (src/payment-api/run-starter.ts).
   */
  PAYMENT_API_MAX_WAITING_STARTS: z.coerce.number().int().positive().default(20_000),
  /**
   * The payload encryption keys (JSON, see src/codec/key-ring.ts). Never in the repository: the
   * local stack generates one into its state directory; docker-compose mounts one as a secret.
   */
  PAYLOAD_KEY_RING_FILE: z.string().min(1),
  /**
   * `true`: clients and workers refuse payloads that are not encrypted (a forged plain-JSON start
   * or signal) instead of reading them as they are. On in docker-compose.yml; off by default so
   * runs and histories from before the codec still replay (the replay tests run without it).
   */
  PAYLOAD_ENCRYPTION_STRICT: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Where the codec server (src/codec-server) listens, and where the Web UI and the CLI reach it. */
  CODEC_SERVER_URL: z.string().url().default(defaultUrl('CODEC_SERVER_URL')),
  CODEC_SERVER_PORT: z.coerce.number().int().positive().default(defaultPort('CODEC_SERVER_PORT')),
  /**
   * Where browsers reach the codec server when that is not CODEC_SERVER_URL (a TLS proxy in front of it):
   * an https address makes its session cookie Secure.
   */
  CODEC_SERVER_PUBLIC_URL: z.string().url().optional(),
  /** A codec-server session ends after this long unused, and after CODEC_SESSION_MAX_HOURS in any case. */
  CODEC_SESSION_IDLE_MINUTES: z.coerce.number().positive().default(30),
  CODEC_SESSION_MAX_HOURS: z.coerce.number().positive().default(8),
  /**
   * Failed codec-server sign-ins allowed per remote address and per operator name in each window,
   * per codec-server process; past that, sign-ins from there or as that name are refused (429) until the window ends.
   */
  CODEC_FAILED_LOGINS_MAX: z.coerce.number().int().positive().default(5),
  CODEC_FAILED_LOGINS_WINDOW_MINUTES: z.coerce.number().positive().default(15),
  /**
   * A codec-server operator's credential (`<name>.<secret>`, one line) that this machine's tools
   * present (`npm run temporal`, the tests): the local stack writes its development operator's here.
   */
  CODEC_OPERATOR_CREDENTIAL_FILE: z.string().min(1),
  /**
   * Where a worker or bridge process serves /livez and /readyz (src/ops-server.ts); unset, it serves
   * none. One per process: compose gives each container the same, `npm start` each process its own.
   */
  OPS_PORT: z.coerce.number().int().positive().optional(),
  /**
   * The address OPS_PORT and WORKER_METRICS_PORT listen on: loopback, as everything the local stack
   * starts, unless set; a container whose Prometheus or prober is another container needs 0.0.0.0.
   */
  OPS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Where a worker process serves the Temporal SDK's own Prometheus series (Core's exporter, at
   * /metrics; docs/production/metrics.md); unset, it serves none. Not OPS_PORT: Core binds its own.
   */
  WORKER_METRICS_PORT: z.coerce.number().int().positive().optional(),
  /**
   * How often a worker process counts the runs that need attention (a visibility query, for the
   * `pipelines_runs_needing_attention` gauge on its OPS_PORT); the gauge is this old at most, plus
   * visibility's own delay.
   */
  RUNS_NEEDING_ATTENTION_COUNT_EVERY_MS: z.coerce.number().int().positive().default(60_000),
  /** Names the process in every log line (workers, bridges, admin-service, ...). */
  SERVICE_NAME: z.string().default('temporal-pipelines'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Appends the log lines to this file instead of stdout (`npm test` keeps them out of its report). */
  LOG_FILE: z.string().min(1).optional(),
  /**
   * Activities each pipeline's worker runs at once. The PostgreSQL pool has this many connections
   * per pipeline, so no activity waits for a connection past its own timeout.
   */
  WORKER_ACTIVITY_SLOTS: z.coerce.number().int().positive().default(10),
  /**
   * Workflows each pipeline's worker keeps in memory between their tasks. This, not the number of
   * open workflows, bounds the worker's memory: a run that is not cached is rebuilt from its history
   * when it next has work (for a booking, a cancellation days later). On Node 20 a cached run costs
   * more the more runs are cached: every promise in the workflow thread gets a slot for each live
   * AsyncLocalStorage, and each run has four; at 300 cached runs that was 340 KB of heap per run.
   * With 10,000 open bookings the worker held 323–390 MiB at 20 and 432 MiB at 50, at the same rate.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).default(20),
  /**
   * Where `npm run build:workflows` wrote the workflow bundles; unset, each worker bundles its
   * workflows from source at start (what the tests and a developer's edit-and-run want).
   */
  WORKFLOW_BUNDLE_DIR: z.string().min(1).optional(),
  /**
   * Whether a worker's workflow threads keep a stack for every promise a workflow creates: what
   * the Web UI's "Call Stack" tab and `temporal workflow stack` show. Keeping them cost about a
   * fifth of the worker's CPU per booking (docs/performance.md). Off, the default, the stack query
   * fails (the SDK's "Workflow stack traces are not enabled on this worker", encrypted as every
   * failure message is: "Encoded failure"); set it to true on a worker to see where its runs wait.
   * The SDK's workflow threads read the variable themselves (patches/).
   */
  WORKFLOW_STACK_TRACES: z.enum(['true', 'false']).default('false'),
  /**
   * How often the flag of a run a worker cannot decode (src/workers/undecodable-runs.ts) asks
   * whether the run decodes again; it leaves the operators' list at the first ask after the fix.
   */
  UNDECODABLE_RUN_CHECK_EVERY_MS: z.coerce.number().int().positive().default(3 * 60_000),
  /** How long a stopping worker lets running activities finish before it cancels them. */
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().nonnegative().default(10_000),
  /**
   * Worker Versioning (docs/production/deploys.md). Set, every pipeline's worker polls as version
   * WORKER_BUILD_ID of this Worker Deployment, and Temporal gives it only the runs of that version:
   * new runs go to the deployment's current (or ramping) version, which an operator sets with
   * `temporal worker deployment set-current-version`, so a worker of a new build takes nothing until
   * then. Unset (the local stack, the tests), workers are unversioned and take every run on their queues.
   */
  WORKER_DEPLOYMENT_NAME: z.string().min(1).optional(),
  /**
   * This build's ID in the Worker Deployment: the image's build argument (docs/production/image.md:
   * the package version and the commit); unset or empty, package.json's version. Two builds with
   * different workflow code must not share one.
   */
  WORKER_BUILD_ID: z.string().min(1).default(packageVersion()),
  /**
   * What a run started on this build does when another version becomes current. `auto-upgrade` (the
   * default) moves at its next workflow task to the current version, whose code replays its history:
   * the house rule that a changed command sequence goes behind `patched()`, checked by the replay
   * tests, is what makes that safe. `pinned` stays on the build it started on until it ends, so that
   * build's workers must run until it drains: days for a booking or a prescription waiting on its
   * events, and as long as its allocation lasts for a session window, which continues as new on the
   * version it started on.
   */
  WORKER_VERSIONING_BEHAVIOR: z
    .enum(['auto-upgrade', 'pinned'])
    .default('auto-upgrade')
    .transform((v) => (v === 'pinned' ? VersioningBehavior.PINNED : VersioningBehavior.AUTO_UPGRADE)),
  /**
   * Days a record parked from a route whose events carry personal data (a prescription intake) is
   * kept, encrypted, before the bridge deletes it. Kafka's own copy is gone after its 7 days.
   */
  PARKED_PERSONAL_DATA_RETENTION_DAYS: z.coerce.number().int().positive().default(30),
  /**
   * The W3C baggage keys (comma-separated) the bridge carries from a record's `baggage` header into
   * Temporal headers, every log line and every event the workflow emits; every other member is
   * dropped at the bridge, as is a kept one whose value is not a short token (src/trace-node.ts).
   * A producer's baggage can carry anything, a user's name or email included.
   */
  TRACE_BAGGAGE_KEYS: z
    .string()
    .default('tenant,region')
    .transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean)),
  /**
   * OpenTelemetry traces (src/opentelemetry.ts, docs/production/traces.md) are exported over OTLP
   * HTTP/protobuf only when one of these is set: the collector's base URL (`/v1/traces` is added),
   * or the full traces URL. Unset, no span is recorded or sent, and the W3C `traceparent` is still
   * carried from a record to the events its run emits. The exporter reads the other standard
   * variables itself (OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_*).
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  /** The `service.name` of the process's spans; SERVICE_NAME when unset. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Starts in flight per partition; ordering per message key is kept regardless. */
  BRIDGE_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(64),
  /**
   * After this many identical refusals from Temporal in a row the bridge stops parking and holds
   * the partition: a refusal every record gets is systemic, and parking would drain the topic.
   */
  BRIDGE_PARKING_BREAKER_THRESHOLD: z.coerce.number().int().positive().default(5),
  /**
   * Where a bridge's consumer group begins on a topic it has never committed on: `earliest` (its
   * whole history), `latest` (only what comes after), or an ISO-8601 timestamp. A group that has
   * committed resumes where it committed, whatever this says (src/bridges/start-position.ts).
   */
  BRIDGE_START_FROM: z
    .string()
    .default('earliest')
    .transform((text, ctx) => {
      const position = parseStartPosition(text);
      if (!position) ctx.addIssue({ code: 'custom', message: `must be ${startPositionHint}` });
      return position ?? z.NEVER;
    }),
  /**
   * The pipelines' shorter timings for a run someone watches (`demo`: npm start, `chaos`, `bench`),
   * as each pipeline declares them (its settings' `read`); a variable set in the environment still wins.
   */
  SETTINGS_PROFILE: z.enum(settingsProfiles).optional(),
});

type Settings = z.infer<typeof schema>;

/** What the Temporal profile says beyond the address and namespace: TLS, the API key, gRPC metadata. */
export type TemporalProfile = Pick<ClientConfigProfile, 'tls' | 'apiKey' | 'grpcMeta'>;

export type Config = Omit<Settings, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'> & {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  temporalProfile: TemporalProfile;
};

/** package.json's version, the default build ID: in the directory above src/ and above dist/ alike. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The secret files default to the local stack's, in its state directory resolved as
 * scripts/stack/lib.sh does (an empty STACK_STATE_DIR counts as unset), so a process started
 * against an isolated stack finds that stack's keys when it has its STACK_STATE_DIR.
 */
function secretFileDefaults(env: NodeJS.ProcessEnv) {
  const stateDir = env.STACK_STATE_DIR || path.join(env.HOME || homedir(), '.local', 'state', 'temporal-pipelines');
  return {
    PAYLOAD_KEY_RING_FILE: path.join(stateDir, 'secrets', 'payload-key-ring.json'),
    CODEC_OPERATOR_CREDENTIAL_FILE: path.join(stateDir, 'secrets', 'codec-operator-credential'),
    DATABASE_PASSWORD_FILE: path.join(stateDir, 'secrets', 'postgres-app-password'),
    MIGRATION_DATABASE_PASSWORD_FILE: path.join(stateDir, 'secrets', 'postgres-owner-password'),
  };
}

/** The database roles scripts/postgres/roles.sql creates; migrations/009 grants to them. */
export const databaseRoles = { owner: 'pipelines_owner', app: 'pipelines_app' } as const;

/**
 * `url` with the password in `passwordFile` when it has none and the file exists: a process is given
 * only the password files it needs (docker-compose.yml), so a missing one is not an error here.
 */
function withPasswordFrom(url: string, passwordFile: string): string {
  const parsed = new URL(url);
  if (parsed.password || !existsSync(passwordFile)) return url;
  parsed.password = readFileSync(passwordFile, 'utf8').trim();
  return parsed.toString();
}

function asRole(url: string, role: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = '';
  return parsed.toString();
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const defaults = secretFileDefaults(env);
  const databaseUrl = env.DATABASE_URL || defaultUrl('DATABASE_URL');
  const parsed = schema.safeParse({
    ...env,
    PAYLOAD_KEY_RING_FILE: env.PAYLOAD_KEY_RING_FILE || defaults.PAYLOAD_KEY_RING_FILE,
    CODEC_OPERATOR_CREDENTIAL_FILE: env.CODEC_OPERATOR_CREDENTIAL_FILE || defaults.CODEC_OPERATOR_CREDENTIAL_FILE,
    DATABASE_PASSWORD_FILE: env.DATABASE_PASSWORD_FILE || defaults.DATABASE_PASSWORD_FILE,
    MIGRATION_DATABASE_URL: env.MIGRATION_DATABASE_URL || (URL.canParse(databaseUrl) ? asRole(databaseUrl, databaseRoles.owner) : databaseUrl),
    MIGRATION_DATABASE_PASSWORD_FILE: env.MIGRATION_DATABASE_PASSWORD_FILE || defaults.MIGRATION_DATABASE_PASSWORD_FILE,
    // The image sets it from a build argument, empty when none was given.
    WORKER_BUILD_ID: env.WORKER_BUILD_ID || undefined,
  });
  if (!parsed.success) {
    throw new Error(`Invalid configuration: ${describeProblems(parsed.error)}`);
  }
  const config = parsed.data;
  const { address, namespace, ...temporalProfile } = temporalProfileOf(env);
  const problems = connectionProblems(config, temporalProfile);
  if (problems.length) throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  return {
    ...config,
    TEMPORAL_ADDRESS: address ?? defaultUrl('TEMPORAL_ADDRESS'),
    TEMPORAL_NAMESPACE: namespace ?? 'default',
    temporalProfile,
    DATABASE_URL: withPasswordFrom(config.DATABASE_URL, config.DATABASE_PASSWORD_FILE),
    MIGRATION_DATABASE_URL: withPasswordFrom(config.MIGRATION_DATABASE_URL, config.MIGRATION_DATABASE_PASSWORD_FILE),
  };
}

/** The Temporal profile as envconfig reads it from `env` (and the TOML file `env` points at, or the user's). */
function temporalProfileOf(env: NodeJS.ProcessEnv): ClientConfigProfile {
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  try {
    return loadClientConfigProfile({ overrideEnvVars });
  } catch (err) {
    throw new Error(`Invalid configuration: the Temporal profile: ${(err as Error).message}`);
  }
}

/** Settings that are each valid but do not go together; none of the messages quotes a value. */
function connectionProblems(config: Settings, temporal: TemporalProfile): string[] {
  const problems: string[] = [];
  if (config.TEMPORAL_API_KEY_FILE && temporal.apiKey !== undefined) {
    problems.push('TEMPORAL_API_KEY_FILE: the Temporal profile has an API key already (TEMPORAL_API_KEY or api_key); set one of them');
  }
  if (!config.KAFKA_SSL && (config.KAFKA_SSL_CA_FILE || config.KAFKA_SSL_CERT_FILE || config.KAFKA_SSL_KEY_FILE)) {
    problems.push('KAFKA_SSL: must be true when KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE or KAFKA_SSL_KEY_FILE is set');
  }
  if (!config.KAFKA_SSL_CERT_FILE !== !config.KAFKA_SSL_KEY_FILE) {
    problems.push('KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE: set both (a client certificate and its key) or neither');
  }
  if (config.KAFKA_SASL_MECHANISM && !(config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD_FILE)) {
    problems.push('KAFKA_SASL_MECHANISM: needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE');
  }
  if (!config.KAFKA_SASL_MECHANISM && (config.KAFKA_SASL_USERNAME || config.KAFKA_SASL_PASSWORD_FILE)) {
    problems.push('KAFKA_SASL_MECHANISM: must be set when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD_FILE is');
  }
  if (config.DATABASE_SSL_CA_FILE && config.DATABASE_SSL_MODE === 'disable') {
    problems.push('DATABASE_SSL_MODE: must not be disable when DATABASE_SSL_CA_FILE is set');
  }
  for (const variable of ['DATABASE_URL', 'MIGRATION_DATABASE_URL'] as const) {
    const url = URL.canParse(config[variable]) ? new URL(config[variable]) : undefined;
    const ssl = url && [...url.searchParams.keys()].filter((k) => k === 'ssl' || k.startsWith('ssl'));
    if (ssl?.length) problems.push(`${variable}: has ${ssl.join(', ')}; use DATABASE_SSL_MODE and DATABASE_SSL_CA_FILE instead`);
  }
  return problems;
}

/** The same configuration connecting as the owner role: for migrations, and tests that must clean up. */
export const asOwner = (config: Config): Config => ({ ...config, DATABASE_URL: config.MIGRATION_DATABASE_URL });

/** Names of the variables above; docker-compose.yml is checked against these and the pipelines' own. */
export const configVariables = Object.keys(schema.shape);
