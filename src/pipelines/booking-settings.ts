import type { PipelineSettings } from './pipeline-settings';

export const bookingSettings: PipelineSettings<{}> = {
  shape: {},
  profiles: {},
  // A booking's user may be given by email; users rows hold one.
  personalFields: ['email'],
};
