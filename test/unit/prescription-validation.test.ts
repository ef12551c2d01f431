import { describe, expect, it } from 'vitest';
import { validationProblems, validNpi } from '../../src/activities/prescription';
import type { PrescriptionIntake } from '../../src/contracts/prescription';

const intake = (changes: { npi?: string; ndc?: string; quantity?: number; writtenOn?: string } = {}): PrescriptionIntake => ({
  prescriptionId: 'rx-1',
  patient: { patientId: 'p-1', name: 'A', dateOfBirth: '1980-01-01', address: { line1: 'x', city: 'y', postalCode: '1', country: 'US' } },
  prescriber: { npi: changes.npi ?? '1234567893', name: 'Dr' },
  medication: { ndc: changes.ndc ?? '0002-8215-01', name: 'Insulin', quantity: changes.quantity ?? 30 },
  insurance: { payerId: 'payer-standard', memberId: 'M-1' },
  writtenOn: changes.writtenOn ?? '2030-01-01',
  receivedAt: '2030-01-02T09:00:00Z',
});

describe('prescription validation', () => {
  it('accepts an NPI whose Luhn check digit (with the 80840 prefix) is right, and nothing else', () => {
    expect(validNpi('1234567893')).toBe(true);
    expect(validNpi('1234567890')).toBe(false);
    expect(validNpi('123456789')).toBe(false);
    expect(validNpi('12345678a3')).toBe(false);
  });

  it('finds no problem in a well-formed prescription, with a 10- or an 11-digit NDC', () => {
    expect(validationProblems(intake())).toEqual([]);
    expect(validationProblems(intake({ ndc: '11111-0001-01' }))).toEqual([]);
  });

  it.each([
    [{ npi: '1234567890' }, 'prescriber NPI is not a valid National Provider Identifier'],
    [{ ndc: '12-34' }, 'medication is not a National Drug Code (10 digits, or 11 as 5-4-2)'],
    [{ ndc: '00002-8215-011' }, 'medication is not a National Drug Code (10 digits, or 11 as 5-4-2)'],
    [{ quantity: 0 }, 'quantity must be between 1 and 360'],
    [{ quantity: 361 }, 'quantity must be between 1 and 360'],
    [{ writtenOn: '2030-01-03' }, 'prescription is dated after it was received'],
    [{ writtenOn: '2028-12-01' }, 'prescription is older than 365 days'],
  ])('names the rule %o breaks, never its value', (change, problem) => {
    expect(validationProblems(intake(change))).toEqual([problem]);
  });
});
