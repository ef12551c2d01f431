import { bookingSettings } from './booking-settings';
import { prescriptionFulfillmentSettings } from './prescription-fulfillment-settings';
import type { PipelineSettings, SettingsProfile } from './pipeline-settings';
import { purchaseToSessionsSettings } from './purchase-to-sessions-settings';

/**
 * Each pipeline's settings, in the order of the pipeline list (./index.ts); a static test checks
 * that each descriptor's `settings` is its entry here. Config and logger read this list, not that
 * one, which would import them back.
 */
export const pipelineSettings = [bookingSettings, purchaseToSessionsSettings, prescriptionFulfillmentSettings] as const;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** Every pipeline's variables in one shape, typed. */
export type PipelineSettingsShape = UnionToIntersection<(typeof pipelineSettings)[number]['shape']>;

export const pipelineSettingsShape = Object.assign({}, ...pipelineSettings.map((s) => s.shape)) as PipelineSettingsShape;

/** The values a profile gives every pipeline's variables. */
export function profileValues(profile: SettingsProfile | undefined): Record<string, string> {
  if (!profile) return {};
  return Object.assign({}, ...pipelineSettings.map((s: PipelineSettings) => s.profiles[profile] ?? {}));
}

export const personalFields = pipelineSettings.flatMap((s) => s.personalFields);

export { settingsProfiles, type PipelineSettings, type SettingsProfile } from './pipeline-settings';
