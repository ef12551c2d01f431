import { msToNumber, type Duration } from '@temporalio/common';
import { z } from 'zod';

/**
 * What src/config.ts and src/logger.ts need from a pipeline, kept apart from its descriptor
 * because they are loaded first: the descriptor imports activities and bridges, which import the
 * logger, which reads the config.
 */
export interface PipelineSettings<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** Its variables, each with its default: merged into the one typed config. */
  shape: Shape;
  /**
   * Shorter values for runs someone watches: `npm start` (demo), `npm run chaos` and `npm run
   * bench` select one with SETTINGS_PROFILE. A variable set in the environment still wins.
   */
  profiles: Partial<Record<SettingsProfile, Partial<Record<keyof Shape, string>>>>;
  /** Fields of its events that carry personal data: the logger censors them at any depth of one. */
  personalFields: string[];
}

/**
 * Declares a pipeline's settings, with `read(config)` giving its own variables typed (the config
 * holds every pipeline's, validated at load, but types only its own core ones).
 */
export function definePipelineSettings<Shape extends z.ZodRawShape>(settings: PipelineSettings<Shape>) {
  const schema = z.object(settings.shape);
  return { ...settings, read: (config: object): z.infer<typeof schema> => schema.parse(config) };
}

export const settingsProfiles = ['demo', 'chaos', 'bench'] as const;
export type SettingsProfile = (typeof settingsProfiles)[number];

export const duration = z.string().refine((value) => {
  try {
    return msToNumber(value as Duration) > 0;
  } catch {
    return false;
  }
}, 'must be a positive duration such as "3 days", "4 hours" or "90s"');
