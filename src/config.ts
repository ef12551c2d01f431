import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
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
/** A URL, or unset; empty counts as unset, as compose writes `\${VAR:-}`. */
const optionalUrl = z.preprocess((v) => v || undefined, z.string().url().optional());

const schema = z.object({
  TEMPORAL_ADDRESS: z.string().default(defaultUrl('TEMPORAL_ADDRESS')),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_UI_URL: z.string().url().default(defaultUrl('TEMPORAL_UI_URL')),
  KAFKA_BROKERS: z
    .string()
    .default(defaultUrl('KAFKA_BROKERS'))
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  KAFKA_CLIENT_ID: z.string().default('temporal-pipelines'),
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
  REDIS_URL: z.string().url().default(defaultUrl('REDIS_URL')),
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
   * How often the flag of a run a worker cannot decode (src/workers/undecodable-runs.ts) asks
   * whether the run decodes again; it leaves the operators' list at the first ask after the fix.
   */
  UNDECODABLE_RUN_CHECK_EVERY_MS: z.coerce.number().int().positive().default(3 * 60_000),
  /** How long a stopping worker lets running activities finish before it cancels them. */
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().nonnegative().default(10_000),
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

export type Config = z.infer<typeof schema>;

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
  });
  if (!parsed.success) {
    throw new Error(`Invalid configuration: ${describeProblems(parsed.error)}`);
  }
  const config = parsed.data;
  return {
    ...config,
    DATABASE_URL: withPasswordFrom(config.DATABASE_URL, config.DATABASE_PASSWORD_FILE),
    MIGRATION_DATABASE_URL: withPasswordFrom(config.MIGRATION_DATABASE_URL, config.MIGRATION_DATABASE_PASSWORD_FILE),
  };
}

/** The same configuration connecting as the owner role: for migrations, and tests that must clean up. */
export const asOwner = (config: Config): Config => ({ ...config, DATABASE_URL: config.MIGRATION_DATABASE_URL });

/** Names of the variables above; docker-compose.yml is checked against these and the pipelines' own. */
export const configVariables = Object.keys(schema.shape);
