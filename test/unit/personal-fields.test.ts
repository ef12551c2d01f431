import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { personal, personalFieldsOf } from '../../src/contracts/personal';

describe('personal fields are read from the schema that declares them', () => {
  it('finds marked fields at any depth, through optional, arrays, unions and transforms, and nothing unmarked', () => {
    const schema = z.object({
      id: z.string(),
      who: personal(z.object({ fullName: personal(z.string().trim()), ref: z.string() })).optional(),
      contacts: z.array(z.object({ phone: personal(z.string()) })),
      either: z.union([z.object({ ssn: personal(z.string()) }), z.object({ other: z.string() })]),
      later: z.object({ dob: personal(z.string()) }).transform((v) => v),
    });
    expect(personalFieldsOf(schema).sort()).toEqual(['dob', 'fullName', 'phone', 'ssn', 'who']);
  });
});
