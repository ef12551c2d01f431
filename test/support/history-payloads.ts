export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Every payload in a history as the CLI prints it or the SDK returns it (any object with metadata and data). */
export function payloadsIn(value: unknown, found: JsonPayload[] = []): JsonPayload[] {
  if (Array.isArray(value)) for (const v of value) payloadsIn(v, found);
  else if (value && typeof value === 'object') {
    if ('metadata' in value && 'data' in value) found.push(value as JsonPayload);
    for (const v of Object.values(value)) payloadsIn(v, found);
  }
  return found;
}

/** What a reader of the stored history can see: its JSON, plus each payload's data as text (the CLI prints it in base64). */
export const readable = (historyJson: string) =>
  historyJson + payloadsIn(JSON.parse(historyJson)).map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8')).join('\n');
