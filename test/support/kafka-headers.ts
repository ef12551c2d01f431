import type { IHeaders } from 'kafkajs';

/** A record's headers as text, the first value of a repeated one; for assertions. */
export const headersAsText = (headers: IHeaders = {}): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).flatMap(([name, v]) => {
      const value = Array.isArray(v) ? v[0] : v;
      return value === undefined ? [] : [[name, value.toString()]];
    }),
  );
