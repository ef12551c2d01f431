import { describe, expect, it } from 'vitest';
import { correlationIdKey } from '../../src/contracts/pipeline';
import { maxKeywordLength, pipelineStartOptions } from '../../src/trace';
import { boundedTrace } from '../../src/trace-node';

const correlationAttribute = (correlationId: string) =>
  pipelineStartOptions({ correlationId }, 'booking b1').typedSearchAttributes.find((a) => a.key === correlationIdKey)!.value;

describe('what a workflow start takes from the Kafka headers', () => {
  it('cuts a long correlation ID for the search attribute, with a hash so it stays unique, and keeps it whole in the memo', () => {
    const long = `corr-${'x'.repeat(3000)}`;
    const other = `${long}-2`;
    expect(correlationAttribute(long).length).toBeLessThanOrEqual(maxKeywordLength);
    expect(correlationAttribute(long)).not.toBe(correlationAttribute(other));
    expect(correlationAttribute(long).startsWith('corr-xxx')).toBe(true);
    expect(pipelineStartOptions({ correlationId: long }, 'booking b1').memo.trace.correlationId).toBe(long);
    expect(pipelineStartOptions({ correlationId: long }, 'booking b1').staticSummary.length).toBeLessThan(100);
    expect(correlationAttribute('corr-123')).toBe('corr-123');
  });

  it('never cuts a character in two', () => {
    const value = correlationAttribute('😀'.repeat(300));
    expect(Buffer.from(value, 'utf8').toString('utf8')).toBe(value);
    expect(value).not.toMatch(/\uFFFD/);
  });

  it('keeps the trace that travels as a Temporal header small, whatever the producer put in its headers', () => {
    const members = Array.from({ length: 20_000 }, (_, i) => `key${i}=${'v'.repeat(40)}`);
    const trace = boundedTrace({ correlationId: 'c'.repeat(1_000_000), baggage: members.join(','), traceparent: 't'.repeat(900_000) });
    expect(Buffer.byteLength(trace.baggage!)).toBeLessThanOrEqual(8_192);
    expect(members.join(',').startsWith(trace.baggage!)).toBe(true);
    expect(trace.baggage!.split(',').every((m) => members.includes(m))).toBe(true);
    expect(trace.correlationId.length).toBeLessThanOrEqual(8_192);
    expect(trace.traceparent).toBeUndefined();
    const usual = { correlationId: 'corr-1', baggage: 'tenant=acme', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(boundedTrace(usual)).toEqual(usual);
  });

  it('writes control characters of the headers as \\xNN, since PostgreSQL text and log lines cannot hold them', () => {
    const trace = boundedTrace({ correlationId: 'corr\u0000-1\n', baggage: 'tenant=a\u0007' });
    expect(trace).toEqual({ correlationId: 'corr\\x00-1\\x0a', baggage: 'tenant=a\\x07' });
  });
});
