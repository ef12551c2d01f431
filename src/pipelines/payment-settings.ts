import { definePipelineSettings } from './pipeline-settings';

// Card numbers travel in payment requests: the logger censors the field wherever it appears.
export const paymentSettings = definePipelineSettings({ shape: {}, profiles: {}, personalFields: ['card'] });
