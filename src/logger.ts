import pino from 'pino';
import { loadConfig } from './config';
import { describeDatabaseError, isDatabaseError } from './database-errors';
import { currentTrace } from './trace-node';
import { traceLogFields, type TraceContext } from './trace';

/**
 * One structured JSON logger for every process. Child loggers carry the correlation ID and W3C
 * baggage of the event being handled, so a grep for either finds the bridge, workflow and
 * activity lines of one business event.
 */
const { LOG_LEVEL, LOG_FILE, SERVICE_NAME } = loadConfig();

/**
 * A safety net under the rule that log lines carry identifiers only: should a whole event or
 * patient ever be logged, its personal fields are not, at any depth. The pipeline list declares
 * every pipeline's when it loads (src/pipelines/index.ts), so every process that handles their
 * events censors them. So are the credentials a connection's options hold (a SASL password is a
 * `password`, a Temporal API key an `apiKey`), should those options ever be logged.
 */
const censored = new Set(['password', 'apiKey']);

export function declarePersonalFields(fields: string[]): void {
  for (const field of fields) censored.add(field);
}

/** What a logged object becomes: exported for its test. */
export const censorPersonalFields = (object: Record<string, unknown>) => censor(object, censored, 0) as Record<string, unknown>;

/** A copy of `value` with the censored fields replaced, where it has any; anything else as it is. */
function censor(value: unknown, fields: Set<string>, depth: number): unknown {
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => censor(item, fields, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  // Errors, Buffers and the like go to pino's serializers as they are.
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, field] of Object.entries(value)) {
    const replaced = fields.has(key) ? '[redacted]' : censor(field, fields, depth + 1);
    if (replaced !== field) (copy ??= { ...value })[key] = replaced;
  }
  return copy ?? value;
}

/**
 * A logged error as pino writes it, except a PostgreSQL error: its message, detail and stack's first
 * line quote the offending value, so it is logged as its SQLSTATE and names (src/database-errors.ts).
 */
export function serializeError(err: unknown): unknown {
  if (!isDatabaseError(err)) return err instanceof Error ? pino.stdSerializers.err(err) : err;
  const message = describeDatabaseError(err);
  const frames = err.stack?.includes('\n') ? err.stack.slice(err.stack.indexOf('\n')) : '';
  return { type: 'DatabaseError', message, code: err.code, stack: `DatabaseError: ${message}${frames}` };
}

export const logger = pino({
  level: LOG_LEVEL,
  base: { service: SERVICE_NAME },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }), log: censorPersonalFields },
  serializers: { err: serializeError },
}, logFile(LOG_FILE));

/** Synchronous appends, so lines from several processes sharing the file stay whole and none is lost at exit. */
function logFile(path: string | undefined): pino.DestinationStream | undefined {
  return path ? pino.destination({ dest: path, append: true, mkdir: true, sync: true }) : undefined;
}

export type Logger = pino.Logger;

export function loggerFor(trace: TraceContext | undefined, bindings: Record<string, unknown> = {}): Logger {
  // pino formats a line's object, not a child's bindings: those are censored here.
  return logger.child(censorPersonalFields({ ...traceLogFields(trace), ...bindings }));
}

/** For activity code: the trace comes from the activity interceptor (src/trace-node.ts). */
export function activityLogger(bindings: Record<string, unknown> = {}): Logger {
  return loggerFor(currentTrace(), bindings);
}
