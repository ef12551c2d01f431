// The only workflowsPath: every workflow type the workers run is exported here.
export { bookingWorkflow } from './booking';
export { purchaseToSessionsWorkflow } from './purchase';
export { sessionWindowWorkflow } from './session-window';
export { prescriptionFulfillmentWorkflow } from './prescription';
