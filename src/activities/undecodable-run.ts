import { Context } from '@temporalio/activity';
import { isGrpcServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

type Description = temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;

/**
 * Whether a run decodes again, from its description: closed, or with no workflow task failing
 * (none pending, or a first attempt). A task that keeps failing is retried by the server with a
 * higher attempt each time; after the one that succeeds there is none, or a new one at attempt 1.
 */
export function runDecodes(description: Description): boolean {
  const status = description.workflowExecutionInfo?.status;
  if (status !== temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING) return true;
  return (description.pendingWorkflowTask?.attempt ?? 1) <= 1;
}

export function createUndecodableRunActivities() {
  return {
    /**
     * Returns once the run decodes again (or is closed, or gone); until then it fails, for its
     * retry policy to ask again. Through the raw service call: the client's `describe()` decodes the
     * run's memo, which may be under the very key this worker lacks.
     */
    async untilRunDecodes(workflowId: string): Promise<void> {
      const { client } = Context.current();
      let description: Description;
      try {
        description = await client.workflowService.describeWorkflowExecution({
          namespace: client.options.namespace,
          execution: { workflowId },
        });
      } catch (err) {
        // A run deleted by hand, or past its retention, needs nobody any more.
        if (isGrpcServiceError(err) && err.code === 5 /* NOT_FOUND */) return;
        throw err;
      }
      if (runDecodes(description)) return;
      throw ApplicationFailure.retryable(
        `Workflow ${workflowId} still fails its workflow task (attempt ${description.pendingWorkflowTask?.attempt})`,
        'RunStillUndecodable',
      );
    },
  };
}

export type UndecodableRunActivities = ReturnType<typeof createUndecodableRunActivities>;
