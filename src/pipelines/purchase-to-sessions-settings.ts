import type { PipelineSettings } from './pipeline-settings';

export const purchaseToSessionsSettings: PipelineSettings<{}> = { shape: {}, profiles: {}, personalFields: [] };
