import { z } from 'zod';

/**
 * Field shapes every contract shares. A control character (an escaped NUL, say) passes JSON and
 * most schemas but PostgreSQL refuses it in text, so an event carrying one would park its workflow
 * at a step that can never succeed: it is refused here, at the bridge, with the reason.
 */
const noControlCharacters = /^[^\u0000-\u001f\u007f]*$/;

export const identifier = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(noControlCharacters, 'must not contain control characters');


/**
 * Bounds by column: a value that passes here but not PostgreSQL would fail its step at every
 * attempt. (PostgreSQL's data errors are refusals in any case; see src/activities/invalid-data.ts.)
 */
const noYearZero = (value: string) => !value.startsWith('0000');
const yearZero = 'year 0000 does not exist in PostgreSQL';

/** A PostgreSQL `integer`. */
export const pgInteger = z.number().int().min(-2_147_483_648).max(2_147_483_647);

/** Free text: PostgreSQL refuses a NUL character in `text` and `jsonb`. */
export const text = (max: number) => z.string().max(max).regex(/^[^\u0000]*$/, 'must not contain NUL characters');

/** A PostgreSQL `date`. */
export const calendarDate = z.iso.date().refine(noYearZero, yearZero);

/** A PostgreSQL `timestamptz`. */
export const timestamp = z.iso.datetime({ offset: true }).refine(noYearZero, yearZero);
