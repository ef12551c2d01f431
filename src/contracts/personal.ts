import { z } from 'zod';

/**
 * Personal data is marked where it is declared, in the event schemas, and everything that must keep
 * it out of sight (the logger's redaction, parking a record encrypted) reads the marks from there:
 * a field added to a contract with the mark is covered everywhere at once.
 *
 * zod keeps metadata per schema instance, so the mark goes last, after `.trim()`, `.min()` and the like.
 */
export const personal = <T extends z.ZodType>(schema: T): T => schema.meta({ personal: true }) as T;

const isPersonal = (schema: z.ZodType) => (z.globalRegistry.get(schema) as { personal?: boolean } | undefined)?.personal === true;

/** The schemas a schema wraps or holds, by key for an object's fields. */
function children(schema: z.ZodType): Array<[string | undefined, z.ZodType]> {
  const def = schema._zod.def as unknown as Record<string, any>;
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape as Record<string, z.ZodType>);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return [[undefined, def.innerType]];
    case 'array':
      return [[undefined, def.element]];
    case 'pipe':
      return [[undefined, def.in], [undefined, def.out]];
    case 'union':
      return (def.options as z.ZodType[]).map((o) => [undefined, o]);
    case 'intersection':
      return [[undefined, def.left], [undefined, def.right]];
    case 'record':
      return [[undefined, def.valueType]];
    default:
      return [];
  }
}

/** The names of the fields marked `personal` at any depth of `schema`, each once. */
export function personalFieldsOf(schema: z.ZodType): string[] {
  const found = new Set<string>();
  const visit = (s: z.ZodType, key: string | undefined, depth: number) => {
    if (depth > 32) return;
    if (key !== undefined && isPersonal(s)) found.add(key);
    for (const [childKey, child] of children(s)) visit(child, childKey ?? key, depth + 1);
  };
  visit(schema, undefined, 0);
  return [...found];
}

const carries = new WeakMap<z.ZodType, boolean>();

/** Whether events of `schema` carry personal data (a prescription intake does): a record of them is parked encrypted. */
export function carriesPersonalData(schema: z.ZodType): boolean {
  let answer = carries.get(schema);
  if (answer === undefined) carries.set(schema, (answer = personalFieldsOf(schema).length > 0));
  return answer;
}
