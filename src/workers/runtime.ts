import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import { logger } from '../logger';

/**
 * Sends the Temporal SDK's own logs (worker lifecycle, workflow `log.*` calls, Core) through our
 * JSON logger, so one log stream holds everything; with `metricsAddress` (`host:port`), Core serves
 * its Prometheus series there at /metrics. Call once per process, before any worker.
 */
let installed = false;

export function installTemporalRuntime(level: LogLevel = 'WARN', metricsAddress?: string): void {
  if (installed) return; // the SDK allows one Runtime per process
  installed = true;
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  const method = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
  Runtime.install({
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      // pino serialises errors only under `err`; the SDK passes them as `error`.
      const { error, ...rest } = (meta ?? {}) as Record<string, unknown>;
      sdkLogger[method[l]]({ ...rest, ...(error ? { err: error } : {}) }, message);
    }),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      // Core's own names (counters without `_total`, histograms in milliseconds): what Temporal's
      // SDK dashboard reads (observability/grafana/dashboards/temporal-core-sdk.json).
      ...(metricsAddress && { metrics: { prometheus: { bindAddress: metricsAddress } } }),
    },
  });
}
