import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { traceFromMessage, traceHeaders } from '../../src/trace';
import { loggerFor } from '../../src/logger';

const message = (headers: KafkaMessage['headers']): KafkaMessage =>
  ({ offset: '42', key: null, value: null, timestamp: '0', attributes: 0, headers }) as KafkaMessage;

describe('trace context from Kafka headers to logs and emitted events', () => {
  it('reads the correlation ID, baggage and traceparent headers, whatever their case', () => {
    const trace = traceFromMessage('booking-events', 1, message({
      'X-Correlation-Id': Buffer.from('corr-9'),
      Baggage: Buffer.from('tenant=acme,user=7'),
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    }));
    expect(trace).toEqual({
      correlationId: 'corr-9',
      baggage: 'tenant=acme,user=7',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
  });

  it('falls back to the record coordinates, so redeliveries of one record share a correlation ID', () => {
    expect(traceFromMessage('booking-events', 2, message({}))).toEqual({ correlationId: 'booking-events-2-42' });
  });

  it('puts the trace on every log line of an activity and on the headers of every emitted event', () => {
    const trace = { correlationId: 'corr-1', baggage: 'tenant=acme' };
    expect(loggerFor(trace, { activity: 'createBooking' }).bindings()).toMatchObject({
      correlationId: 'corr-1',
      baggage: 'tenant=acme',
      activity: 'createBooking',
    });
    expect(traceHeaders(trace)).toEqual({ 'correlation-id': 'corr-1', baggage: 'tenant=acme' });
  });
});
