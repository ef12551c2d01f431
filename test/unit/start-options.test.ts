import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { correlationIdKey } from '../../src/contracts/pipeline';
import { maxKeywordLength, pipelineStartOptions } from '../../src/trace';
import { allowedBaggage, boundedTrace, correlationIdFor } from '../../src/trace-node';

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
    const trace = boundedTrace({ correlationId: 'c'.repeat(1_000_000), baggage: [...members, 'tenant=acme'].join(','), traceparent: 't'.repeat(900_000) });
    expect(trace).toEqual({ correlationId: correlationIdFor('c'.repeat(1_000_000)), baggage: 'tenant=acme' });
    expect(trace.correlationId).toMatch(/^sha256:[0-9a-f]{32}$/);
    const usual = { correlationId: 'corr-1', baggage: 'tenant=acme', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(boundedTrace(usual)).toEqual(usual);
  });
});

describe('trace data in clear carries no personal data (issue 18, item 7)', () => {
  it('baggage keeps only the allowed keys (default tenant, region), once each, with short token values and no properties', () => {
    expect(boundedTrace({ correlationId: 'c-1', baggage: 'tenant=acme;p=1, user=Jane%20Q%20Public,email=jane%40example.com,region=eu' }).baggage).toBe(
      'tenant=acme,region=eu',
    );
    expect(allowedBaggage('tenant=acme,tenant=other', new Set(['tenant']))).toBe('tenant=acme');
    expect(allowedBaggage(`tenant=${'a'.repeat(129)},region=eu`, new Set(['tenant', 'region']))).toBe('region=eu');
    expect(allowedBaggage('tenant=a b,region=e\u0007u', new Set(['tenant', 'region']))).toBeUndefined();
    expect(allowedBaggage('memberId=M-778812', new Set(['tenant']))).toBeUndefined();
    expect(boundedTrace({ correlationId: 'c-1', baggage: 'user=7' })).toEqual({ correlationId: 'c-1' });
  });

  it('the allow-list comes from TRACE_BAGGAGE_KEYS', () => {
    expect(loadConfig({}).TRACE_BAGGAGE_KEYS).toEqual(['tenant', 'region']);
    expect(loadConfig({ TRACE_BAGGAGE_KEYS: 'tenant, channel' }).TRACE_BAGGAGE_KEYS).toEqual(['tenant', 'channel']);
    expect(allowedBaggage('tenant=acme,channel=web,region=eu', new Set(loadConfig({ TRACE_BAGGAGE_KEYS: 'tenant, channel' }).TRACE_BAGGAGE_KEYS))).toBe(
      'tenant=acme,channel=web',
    );
  });

  it('a correlation ID that is a safe token is kept; any other is replaced by its SHA-256, the same every time', () => {
    for (const id of ['corr-1', 'b6f1c2de-1d4e-4c9a-9a43-0d8a4f0e2c11', 'prescription.intake.received-2-1234', 'a:b_c.d']) expect(correlationIdFor(id)).toBe(id);
    const email = 'jane.public@example.com';
    // What an operator computes from the original: printf %s "$id" | sha256sum | cut -c1-32
    expect(correlationIdFor(email)).toBe('sha256:4bef37a45d050f62767e71b68b531e4b');
    for (const id of [email, 'Jane Q Public', 'corr\u0000-1\n', 'x'.repeat(65), '']) {
      const safe = boundedTrace({ correlationId: id }).correlationId;
      expect(safe).toMatch(/^sha256:[0-9a-f]{32}$/);
      expect(safe).toBe(correlationIdFor(id));
      if (id) expect(safe).not.toContain(id);
    }
  });
});
