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

export const timestamp = z.iso.datetime({ offset: true });
