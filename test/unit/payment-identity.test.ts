import { describe, expect, it } from 'vitest';
import type { PaymentRequestBody } from '../../src/contracts/payment-events';
import { paymentIdOf, requestFingerprint } from '../../src/payment-api/server';

const course: PaymentRequestBody = {
  amountCents: 4_900,
  currency: 'USD',
  card: '4242424242424242',
  purpose: { kind: 'course', studentId: 'student_1', courseId: 'course_typescript' },
};
const copay: PaymentRequestBody = {
  amountCents: 1_500,
  currency: 'USD',
  card: '4242424242424242',
  purpose: { kind: 'copay', prescriptionId: 'rx_1', linkId: 'link_1' },
};

describe('a payment named by its Idempotency-Key', () => {
  it('is the same payment for the same key, another for another key, and safe in a URL and a workflow ID', () => {
    expect(paymentIdOf('key-00000001')).toBe(paymentIdOf('key-00000001'));
    expect(paymentIdOf('key-00000001')).not.toBe(paymentIdOf('key-00000002'));
    expect(paymentIdOf('a key with / and ? in it')).toMatch(/^pay_[0-9a-f]{32}$/);
  });
});

describe('the fingerprint of a payment request', () => {
  it('is the same for the same fields in any order, at any depth', () => {
    const reordered = JSON.parse(
      '{"purpose":{"courseId":"course_typescript","studentId":"student_1","kind":"course"},"card":"4242424242424242","currency":"USD","amountCents":4900}',
    ) as PaymentRequestBody;
    expect(requestFingerprint(reordered)).toBe(requestFingerprint(course));
  });

  it.each([
    ['the amount', { ...course, amountCents: 4_901 }],
    ['the currency', { ...course, currency: 'EUR' }],
    ['the card', { ...course, card: '4242424242424241' }],
    ['the student', { ...course, purpose: { ...course.purpose, studentId: 'student_2' } }],
    ['the course', { ...course, purpose: { ...course.purpose, courseId: 'course_go' } }],
    // The same two identifiers, for a copay instead of a course.
    ['what it pays for', { ...course, purpose: { kind: 'copay', prescriptionId: 'student_1', linkId: 'course_typescript' } }],
  ] as Array<[string, PaymentRequestBody]>)('changes when %s changes', (_field, changed) => {
    expect(requestFingerprint(changed)).not.toBe(requestFingerprint(course));
  });

  it.each([
    ['the prescription', { ...copay, purpose: { ...copay.purpose, prescriptionId: 'rx_2' } }],
    ['the link', { ...copay, purpose: { ...copay.purpose, linkId: 'link_2' } }],
  ] as Array<[string, PaymentRequestBody]>)("of a copay changes when %s changes", (_field, changed) => {
    expect(requestFingerprint(changed)).not.toBe(requestFingerprint(copay));
  });
});
