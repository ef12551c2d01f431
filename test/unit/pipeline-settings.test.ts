import { describe, expect, it } from 'vitest';
import { definePipelineSettings, duration } from '../../src/pipelines/pipeline-settings';

const settings = definePipelineSettings({
  shape: { EXAMPLE_WINDOW: duration.default('3 days'), EXAMPLE_INTERVAL: duration.default('4 hours') },
  profiles: { demo: { EXAMPLE_WINDOW: '40 seconds', EXAMPLE_INTERVAL: '3 seconds' } },
  personalFields: [],
});

describe("a pipeline's settings", () => {
  it('are its defaults unless SETTINGS_PROFILE names a profile, whose values a variable in the environment still overrides', () => {
    expect(settings.read({})).toEqual({ EXAMPLE_WINDOW: '3 days', EXAMPLE_INTERVAL: '4 hours' });
    expect(settings.read({ SETTINGS_PROFILE: 'demo' })).toEqual({ EXAMPLE_WINDOW: '40 seconds', EXAMPLE_INTERVAL: '3 seconds' });
    expect(settings.read({ SETTINGS_PROFILE: 'demo', EXAMPLE_WINDOW: '1 hour' })).toEqual({ EXAMPLE_WINDOW: '1 hour', EXAMPLE_INTERVAL: '3 seconds' });
    // A profile the pipeline gives no values keeps its defaults.
    expect(settings.read({ SETTINGS_PROFILE: 'bench' })).toEqual({ EXAMPLE_WINDOW: '3 days', EXAMPLE_INTERVAL: '4 hours' });
  });

  it('refuse a value that is not a duration, and a profile nobody declared, naming the variable', () => {
    expect(() => settings.read({ EXAMPLE_INTERVAL: 'soon' })).toThrow(/^Invalid configuration: EXAMPLE_INTERVAL: must be a positive duration/);
    expect(() => settings.read({ SETTINGS_PROFILE: 'production' })).toThrow();
  });
});
