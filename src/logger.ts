import pino from 'pino';
import { loadConfig } from './config';
import { currentTrace } from './trace-node';
import { personalFields } from './pipelines/settings';
import { traceLogFields, type TraceContext } from './trace';

/**
 * One structured JSON logger for every process. Child loggers carry the correlation ID and W3C
 * baggage of the event being handled, so a grep for either finds the bridge, workflow and
 * activity lines of one business event.
 */
const { LOG_LEVEL, LOG_FILE, SERVICE_NAME } = loadConfig();

export const logger = pino({
  level: LOG_LEVEL,
  base: { service: SERVICE_NAME },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  // A safety net under the rule that log lines carry identifiers only: should a whole event or
  // patient ever be logged, its personal fields (as each pipeline declares them) are not.
  redact: {
    paths: ['*.password', ...personalFields.flatMap((field) => [field, `*.${field}`])],
    censor: '[redacted]',
  },
}, logFile(LOG_FILE));

/** Synchronous appends, so lines from several processes sharing the file stay whole and none is lost at exit. */
function logFile(path: string | undefined): pino.DestinationStream | undefined {
  return path ? pino.destination({ dest: path, append: true, mkdir: true, sync: true }) : undefined;
}

export type Logger = pino.Logger;

export function loggerFor(trace: TraceContext | undefined, bindings: Record<string, unknown> = {}): Logger {
  return logger.child({ ...traceLogFields(trace), ...bindings });
}

/** For activity code: the trace comes from the activity interceptor (src/trace-node.ts). */
export function activityLogger(bindings: Record<string, unknown> = {}): Logger {
  return loggerFor(currentTrace(), bindings);
}
