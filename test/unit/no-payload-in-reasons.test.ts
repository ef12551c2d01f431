import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { unparseableJson } from '../../src/bridges/records';
import { callHttp } from '../../src/http-call';

const phi = ['Jane Q Public', 'M-778812', '1970-01-01'];
const mentionsPhi = (text: string) => phi.some((p) => text.includes(p)) || /Jane|Pub/.test(text);

describe("a record that is not JSON is parked with where it stops being JSON, not with V8's quote of it", () => {
  it.each([
    ['plain text', 'Jane Q Public, 1970-01-01, M-778812', 0],
    ['a bare word for a value', '{"name": Jane Q Public}', 9],
    ['text after the object', '{"a":1} Jane Q Public', 8],
    ['a multi-byte character before the error', '{"city":"Zürich", Jane}', 19],
  ])('%s', (_, text, byte) => {
    expect(() => JSON.parse(text)).toThrow();
    const reason = unparseableJson(text);
    expect(reason).toBe(`unparseable JSON at byte ${byte}`);
    expect(mentionsPhi(reason)).toBe(false);
  });

  it('an empty value is unparseable at byte 0', () => {
    expect(unparseableJson('')).toBe('unparseable JSON at byte 0');
  });
});

describe("a partner's error body never reaches the activity's failure", () => {
  let server: Server;
  let url: URL;
  let answer: { status: number; body: string };
  beforeAll(async () => {
    server = createServer((_, res) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/eligibility`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const call = () =>
    callHttp({ what: 'insurer checkEligibility', url, method: 'POST', body: {}, response: z.object({}), timeoutMs: 5_000, refusedType: 'PartnerRefused' }).catch(
      (err: unknown) => err as Error,
    );

  it('a 4xx whose error text quotes a name and a member ID is refused with its status only', async () => {
    answer = { status: 422, body: JSON.stringify({ error: 'member M-778812 (Jane Q Public, born 1970-01-01) is not covered' }) };
    const failure = await call();
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'PartnerRefused', nonRetryable: true, message: 'insurer checkEligibility refused (422)', details: [{ status: 422 }] });
    expect(mentionsPhi(JSON.stringify({ ...failure, message: failure.message }))).toBe(false);
  });

  it("keeps the partner's error code when it is a code, not prose", async () => {
    answer = { status: 422, body: JSON.stringify({ error: 'Jane Q Public is not covered', code: 'MEMBER_NOT_COVERED' }) };
    expect(await call()).toMatchObject({ message: 'insurer checkEligibility refused (422): MEMBER_NOT_COVERED', details: [{ status: 422, code: 'MEMBER_NOT_COVERED' }] });
  });

  it('a 5xx with a body quoting the request is a retryable outage with its status only', async () => {
    answer = { status: 503, body: JSON.stringify({ error: 'cannot look up member M-778812' }) };
    const failure = await call();
    expect(failure).not.toBeInstanceOf(ApplicationFailure);
    expect(failure.message).toBe('insurer checkEligibility answered 503');
  });
});
