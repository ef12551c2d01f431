import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { PipelineSettings, SettingsProfile } from './pipeline-settings';

/**
 * Every pipeline's settings, found beside the descriptors: each `<pipeline>-settings` module here
 * exports one `PipelineSettings`. The config and the logger are loaded before the descriptors (a
 * descriptor imports activities and bridges, which import the logger, which reads the config), so
 * they cannot read the pipeline list (./index.ts); finding the modules by name keeps that list the
 * only place a pipeline is added. A static test checks that the modules found are exactly the
 * descriptors' `settings`.
 */
export const pipelineSettings: PipelineSettings[] = readdirSync(__dirname)
  .filter((file) => /^[a-z0-9-]+-settings\.[cm]?[jt]s$/.test(file) && !file.startsWith('pipeline-settings.'))
  .sort()
  .flatMap((file) => Object.values(require(path.join(__dirname, file)) as Record<string, unknown>).filter(isPipelineSettings));

function isPipelineSettings(value: unknown): value is PipelineSettings {
  return typeof value === 'object' && value !== null && 'shape' in value && 'profiles' in value && 'personalFields' in value;
}

/** Every pipeline's variables in one shape, for the config to validate with its own. */
export const pipelineSettingsShape: z.ZodRawShape = Object.assign({}, ...pipelineSettings.map((s) => s.shape));

/** The values a profile gives every pipeline's variables. */
export function profileValues(profile: SettingsProfile | undefined): Record<string, string> {
  if (!profile) return {};
  return Object.assign({}, ...pipelineSettings.map((s) => s.profiles[profile] ?? {}));
}

export const personalFields = pipelineSettings.flatMap((s) => s.personalFields);

export { settingsProfiles, type PipelineSettings, type SettingsProfile } from './pipeline-settings';
