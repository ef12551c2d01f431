import { createHash } from 'node:crypto';

/**
 * The event a run was started from, as a short hash of each field's value by the field's path
 * (`medication.quantity`), so that a later copy can be compared with it without keeping the event.
 * A route keeps it in the run's memo. Paths name fields, never values. The hashes are of values that
 * may be personal data, but the memo is a payload, encrypted like the run's input, which holds the
 * values themselves.
 */
export type Fingerprint = Record<string, string>;

export function fingerprint(event: unknown): Fingerprint {
  const fields: Fingerprint = {};
  const visit = (value: unknown, path: string): void => {
    const entries = value !== null && typeof value === 'object' ? Object.entries(value) : [];
    if (entries.length === 0) {
      fields[path] = createHash('sha256').update(JSON.stringify(value) ?? 'undefined').digest('base64url').slice(0, 16);
      return;
    }
    for (const [key, child] of entries) visit(child, path ? `${path}.${key}` : key);
  };
  visit(event, '');
  return fields;
}

/**
 * The paths of the fields in which `event` differs from the one `recorded` was taken from, sorted;
 * empty when it is the same event. Undefined when `recorded` is not a fingerprint (a run started
 * before runs kept one): nothing to compare with.
 */
export function changedFields(recorded: unknown, event: unknown): string[] | undefined {
  if (recorded === null || typeof recorded !== 'object' || Object.values(recorded).some((h) => typeof h !== 'string')) return undefined;
  const before = recorded as Fingerprint;
  const now = fingerprint(event);
  const paths = new Set([...Object.keys(before), ...Object.keys(now)]);
  return [...paths].filter((path) => before[path] !== now[path]).sort();
}
