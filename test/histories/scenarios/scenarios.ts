import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TraceContext } from '../../../src/trace';
import type { Infrastructure } from '../../../src/pipelines/pipeline';
import type { Attention } from '../../../src/contracts/pipeline';

/**
 * A pipeline's scenarios for `npm run record-histories` (scripts/record-histories.ts): each one
 * plays a story through a real run and answers the workflow ID whose history becomes
 * test/histories/<scenario>-<version>.json. Scenario names start with the workflow they record,
 * so HISTORY_SCENARIOS can pick a workflow's by prefix.
 */
export interface PipelineHistories {
  /** Runs on the local stack with the pipeline's real activities (some of which a scenario may fail on purpose). */
  onStack(recording: StackRecordingContext): Promise<StackScenarios>;
  /**
   * Runs that take days of workflow time, on the time-skipping test server with in-memory
   * activities; a fresh server per scenario, these activities shared by the pipeline's scenarios.
   */
  onTestServer?(): TestServerScenarios;
}

export interface StackRecordingContext extends Infrastructure {
  client: Client;
  taskQueue: string;
  /** This recording's tag: every ID it makes contains it. */
  run: string;
  /** The trace its starts and signals carry, as the bridge's do. */
  trace: TraceContext;
  /**
   * Resolves once the run waits for an operator, with what it says it waits for (the `attention`
   * query); rejects if the run closes first.
   */
  waitUntilParked(workflowId: string): Promise<Attention>;
}

export interface StackScenarios {
  activities: object;
  scenarios: Record<string, () => Promise<string>>;
  /** Stops whatever the scenarios needed besides the stack. */
  close?(): Promise<void>;
}

export interface TestServerContext {
  /** Without the payload codec, as the stack's: the histories hold clear text. */
  client: Client;
  /** Only its own client and sleep skip time. */
  env: TestWorkflowEnvironment;
  taskQueue: string;
  trace: TraceContext;
}

/** The run whose history to keep (`runId` when not its last), and what to do once it is saved. */
export interface RecordedRun {
  workflowId: string;
  runId?: string;
  done(): Promise<void>;
}

export interface TestServerScenarios {
  activities: object;
  scenarios: Record<string, (recording: TestServerContext) => Promise<RecordedRun>>;
}
