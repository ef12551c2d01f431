// The only workflowsPath: every workflow type the workers run is exported here.
export { bookingWorkflow } from './booking';
