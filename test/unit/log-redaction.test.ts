import { describe, expect, it } from 'vitest';
import { censorPersonalFields } from '../../src/logger';
import { pipelines } from '../../src/pipelines';

describe('log redaction', () => {
  it("censors every pipeline's declared personal fields wherever they appear in a logged object, and keeps the identifiers", () => {
    const intake = {
      prescriptionId: 'rx_1',
      patient: { patientId: 'pat_1', name: 'Jane Doe', dateOfBirth: '1980-01-01', address: { postalCode: '10115' } },
    };
    const logged = censorPersonalFields({ event: intake, nested: [{ deeper: { email: 'jane@example.com', dateOfBirth: '1980-01-01' } }], userId: 'u_1' });
    expect(logged).toEqual({
      event: { prescriptionId: 'rx_1', patient: '[redacted]' },
      nested: [{ deeper: { email: '[redacted]', dateOfBirth: '[redacted]' } }],
      userId: 'u_1',
    });
    // The caller's object is not changed.
    expect(intake.patient.name).toBe('Jane Doe');
  });

  it('censors exactly the fields the pipelines declare, and leaves errors to the serializers', () => {
    const declared = pipelines.flatMap((p) => p.settings.personalFields);
    expect(declared.length).toBeGreaterThan(0);
    const logged = censorPersonalFields(Object.fromEntries(declared.map((field) => [field, 'personal'])));
    expect(Object.values(logged)).toEqual(declared.map(() => '[redacted]'));
    const err = new Error('boom');
    expect(censorPersonalFields({ err }).err).toBe(err);
  });
});
