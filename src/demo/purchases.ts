import { attentionQuery } from '../contracts/pipeline';
import { purchaseConfirmedTopic, purchaseWorkflowId } from '../contracts/purchase';
import { parkedOutcome, printOutcomes, type DemoContext, type PipelineDemo, type Stories } from './outcomes';

/**
 * The purchase part of the demo stream: confirmations as the payment service emits them, for the
 * courses the stack's admin service has trainers for (see demoTrainers), plus the awkward parts.
 */
async function publish({ producer, run }: DemoContext): Promise<Stories> {
  const stories: Stories = {};
  const confirm = async (n: number, studentId: string, courseId: string, story: string, times = 1) => {
    const paymentId = `pay_demo_${run}_p${n}`;
    stories[paymentId] = story;
    const value = JSON.stringify({ type: 'PURCHASE_CONFIRMED', paymentId, studentId, courseId, amount: 49, currency: 'EUR', confirmedAt: new Date().toISOString() });
    for (let i = 0; i < times; i++) {
      await producer.send({
        topic: purchaseConfirmedTopic,
        messages: [{ key: studentId, value, headers: { 'correlation-id': `demo-${run}-p${n}`, baggage: `demo.run=${run}` } }],
      });
    }
  };
  await confirm(1, `student_${run}_ada`, 'course_typescript', 'Ada buys TypeScript (delivered 3 times)', 3);
  // Both runs start at once, and whichever records its purchase first wins. Sent straight to Kafka,
  // neither payment is in our ledger, so the loser cannot refund it through the provider.
  await confirm(2, `student_${run}_ada`, 'course_typescript', 'Ada pays again: one of the two asks a person to refund it by hand');
  await confirm(3, `student_${run}_bob`, 'course_kafka', 'Bob buys Kafka');
  await confirm(4, `student_${run}_eve`, 'course_cobol', 'Eve buys COBOL: no trainer teaches it');
  return stories;
}

/** Waits briefly for the purchases to settle and prints how each ended. */
async function printPurchaseOutcomes({ client, db }: DemoContext, stories: Stories): Promise<void> {
  const outcomeOf = async (paymentId: string): Promise<string | undefined> => {
    const handle = client.workflow.getHandle(purchaseWorkflowId(paymentId));
    const description = await handle.describe().catch(() => undefined);
    if (!description) return undefined;
    const parked = parkedOutcome(description);
    // Ended, but asking a person for something (a payment to refund by hand): no step to retry.
    if (parked && description.status.name === 'COMPLETED') return `${(await handle.result()).status}, ${parked}: ${(await handle.query(attentionQuery)).lastError}`;
    if (parked) return `${parked}: npm run temporal -- workflow signal --workflow-id ${handle.workflowId} --name operatorDecision --input '"retry"'`;
    if (description.status.name !== 'COMPLETED') return undefined;
    const outcome = await handle.result();
    if (outcome.status !== 'SessionsScheduled') return outcome.status;
    // The purchase ends once it has started its session window, which schedules the sessions after.
    const { rows } = await db.query<{ count: string }>('SELECT count(*) FROM sessions WHERE allocation_id = $1', [outcome.allocationId]);
    const sessions = Number(rows[0]?.count ?? 0);
    return sessions ? `trainer ${outcome.trainerId}, ${sessions} sessions scheduled` : undefined;
  };

  await printOutcomes(stories, outcomeOf, 30);
}

export const purchaseDemo: PipelineDemo = {
  heading: 'Purchases: each confirmation ends with sessions scheduled, or parked for an operator:',
  publish,
  printOutcomes: printPurchaseOutcomes,
};
