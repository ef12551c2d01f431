import { definePipelineSettings } from './pipeline-settings';

export const bookingSettings = definePipelineSettings({
  shape: {},
  profiles: {},
  // A booking's user may be given by email; users rows hold one.
  personalFields: ['email'],
});
