import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetryWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { Config } from './config';

/**
 * OpenTelemetry for every process, with Temporal's interceptors (as temporalio/samples-typescript
 * `interceptors-opentelemetry` sets them up): the client's starts and signals, the workflow's run,
 * signals and activity schedules (src/workers/workflows-path.ts puts them in every bundle) and each
 * activity's execution are spans of the trace a Kafka record's `traceparent` began
 * (src/bridges/record-span.ts). The correlation ID and baggage travel apart, in src/trace.ts's own
 * header: OTel's baggage propagator is left out on purpose, as it would carry a producer's whole
 * `baggage` header into Temporal past the TRACE_BAGGAGE_KEYS allow-list.
 */

let provider: BasicTracerProvider | undefined;
let workflowSpans: InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }> | undefined;

/**
 * Call once per process, before any client or worker. Spans are recorded only with a span
 * processor: the OTLP exporter when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, or a test's
 * in-memory one; otherwise the API's no-op tracer makes each span a context that only carries its
 * parent's IDs, and workers leave the workflow interceptors out of their bundle
 * (src/workers/workflows-path.ts), so an emitted event passes its record's `traceparent` on as it
 * came (`eventHeaders`). The context manager and the W3C propagator are installed either way.
 */
export function installTracing(config: Config, spanProcessor: SpanProcessor | undefined = otlpSpanProcessor(config)): void {
  // The API keeps the first registration of each and ignores later ones; a test installs its own.
  for (const api of [context, propagation, trace]) api.disable();
  provider = undefined;
  workflowSpans = undefined;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!spanProcessor) return;
  const resource = new Resource({ 'service.name': config.OTEL_SERVICE_NAME ?? config.SERVICE_NAME }).merge(
    // OTEL_RESOURCE_ATTRIBUTES (deployment.environment, ...) and OTEL_SERVICE_NAME as the SDK reads them.
    detectResourcesSync({ detectors: [envDetectorSync] }),
  );
  provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  trace.setGlobalTracerProvider(provider);
  workflowSpans = { exporter: makeWorkflowExporter(spanProcessor, resource) };
}

function otlpSpanProcessor(config: Config): SpanProcessor | undefined {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT && !config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  // The exporter and the batch processor read their OTEL_* variables (URL, headers, timeouts, batch sizes) themselves.
  return new BatchSpanProcessor(new OTLPTraceExporter());
}

/** Whether spans are recorded: `installTracing` was given a span processor (or found an OTLP endpoint). */
export const tracingEnabled = (): boolean => provider !== undefined;

/** Sends the spans still batched; before a process exits. */
export async function shutdownTracing(): Promise<void> {
  await provider?.shutdown();
}

/** For `new Client({ interceptors })`, before the correlation-ID one: its span covers the whole call. */
export const tracingClientInterceptor = () => new OpenTelemetryWorkflowClientInterceptor();

/** Each activity runs in a span whose parent is its schedule in the workflow, and logs its trace and span IDs. */
export const tracingActivityInterceptor: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
  outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
});

/**
 * The sink the workflow interceptors end their spans into (a workflow cannot do I/O). Without a
 * span processor it drops them: registered anyway, as the bundle's interceptors call it either way.
 */
export const workflowSpanSinks = (): InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }> =>
  workflowSpans ?? { exporter: { export: { fn: () => undefined } } };
