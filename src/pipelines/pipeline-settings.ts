import { msToNumber, type Duration } from '@temporalio/common';
import { z } from 'zod';
import { describeProblems } from '../schema-problems';

/**
 * A pipeline's own variables and personal fields, declared with its descriptor. The pipeline reads
 * its variables itself (`read`), where it uses them; src/config.ts holds what every process shares.
 */
export interface PipelineSettings<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** Its variables, each with its default. */
  shape: Shape;
  /**
   * Shorter values for runs someone watches: `npm start` (demo), `npm run chaos` and `npm run
   * bench` select one with SETTINGS_PROFILE. A variable set in the environment still wins.
   */
  profiles: Partial<Record<SettingsProfile, Partial<Record<keyof Shape, string>>>>;
  /** Fields of its events that carry personal data: the logger censors them wherever they appear. */
  personalFields: string[];
}

/**
 * Declares a pipeline's settings, with `read(env)`: its variables from the environment, typed and
 * validated, with the values of the profile SETTINGS_PROFILE names under those the environment sets.
 */
export function definePipelineSettings<Shape extends z.ZodRawShape>(settings: PipelineSettings<Shape>) {
  const schema = z.object(settings.shape);
  return {
    ...settings,
    read(env: NodeJS.ProcessEnv = process.env): z.infer<typeof schema> {
      const profile = z.enum(settingsProfiles).optional().parse(env.SETTINGS_PROFILE || undefined);
      const parsed = schema.safeParse({ ...(profile ? settings.profiles[profile] : {}), ...env });
      if (parsed.success) return parsed.data;
      throw new Error(`Invalid configuration: ${describeProblems(parsed.error)}`);
    },
  };
}

export type DeclaredPipelineSettings = ReturnType<typeof definePipelineSettings>;

export const settingsProfiles = ['demo', 'chaos', 'bench'] as const;
export type SettingsProfile = (typeof settingsProfiles)[number];

export const duration = z.string().refine((value) => {
  try {
    return msToNumber(value as Duration) > 0;
  } catch {
    return false;
  }
}, 'must be a positive duration such as "3 days", "4 hours" or "90s"');
