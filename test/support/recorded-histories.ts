import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The histories `npm run record-histories` wrote, `<scenario>-v<N>.json`, read as JSON. */
export const historiesDir = path.resolve(__dirname, '..', 'histories');

export const workflowTypeOf = (history: any): string => history.events[0].workflowExecutionStartedEventAttributes.workflowType.name;

export const readHistory = (file: string): any => JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8'));

/** The file of each scenario's newest version, by scenario: what runs started with today's code look like. */
export function newestHistoryFiles(): Map<string, string> {
  const newest = new Map<string, { version: number; file: string }>();
  for (const file of readdirSync(historiesDir)) {
    const match = /^(.*)-v(\d+)\.json$/.exec(file);
    if (!match) continue;
    const version = Number(match[2]);
    if ((newest.get(match[1]!)?.version ?? -1) < version) newest.set(match[1]!, { version, file });
  }
  return new Map([...newest].map(([scenario, { file }]) => [scenario, file]));
}
