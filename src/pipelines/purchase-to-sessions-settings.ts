import { definePipelineSettings } from './pipeline-settings';

export const purchaseToSessionsSettings = definePipelineSettings({ shape: {}, profiles: {}, personalFields: [] });
