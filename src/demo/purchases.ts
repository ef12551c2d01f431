import { operatorDecisionSignal } from '../contracts/pipeline';
import { purchaseWorkflowId } from '../contracts/purchase';
import { parkedOutcome, printOutcomes, type DemoContext, type PipelineDemo, type Stories } from './outcomes';
import { demoCards, pay, paymentStatus } from './pay';

/**
 * The purchase part of the demo stream: students pay for courses through the payment API, whose
 * runs emit `purchase-confirmed` as the legacy payment service did, for the courses the stack's
 * admin service has trainers for (see demoTrainers), plus the awkward parts.
 */
async function publish({ config, run }: DemoContext): Promise<Stories> {
  const stories: Stories = {};
  const buy = async (key: string, studentId: string, courseId: string, story: string, times = 1) => {
    const body = { amountCents: 4900, currency: 'EUR', card: demoCards.charged, purpose: { kind: 'course' as const, studentId, courseId } };
    for (let i = 0; i < times; i++) stories[(await pay(config, `demo-${run}-${key}`, body)).paymentId] = story;
  };
  await buy('ada-ts', `student_${run}_ada`, 'course_typescript', 'Ada pays for TypeScript (request sent 3 times)', 3);
  // Both runs start at once, and whichever records its purchase first wins; the other is refunded.
  await buy('ada-ts-again', `student_${run}_ada`, 'course_typescript', 'Ada pays for TypeScript again: one is refunded');
  await buy('bob-kafka', `student_${run}_bob`, 'course_kafka', 'Bob pays for Kafka');
  await buy('eve-cobol', `student_${run}_eve`, 'course_cobol', 'Eve pays for COBOL: no trainer; operator aborts');
  return stories;
}

/**
 * Waits for the purchases to settle and prints how each ended. Plays the operator for a purchase
 * parked because no trainer teaches the course: it aborts it, which refunds the payment.
 */
async function printPurchaseOutcomes({ client, db, config }: DemoContext, stories: Stories): Promise<void> {
  const outcomeOf = async (paymentId: string): Promise<string | undefined> => {
    const handle = client.workflow.getHandle(purchaseWorkflowId(paymentId));
    const description = await handle.describe().catch(() => undefined);
    if (!description) return undefined;
    if (parkedOutcome(description)) {
      await handle.signal(operatorDecisionSignal, 'abort');
      return undefined;
    }
    if (description.status.name === 'FAILED') {
      const payment = await paymentStatus(config, paymentId);
      return payment?.status === 'Refunded' ? `aborted by the operator: purchase deactivated, payment refunded` : undefined;
    }
    if (description.status.name !== 'COMPLETED') return undefined;
    const outcome = await handle.result();
    if (outcome.status !== 'SessionsScheduled') {
      const payment = await paymentStatus(config, paymentId);
      return payment?.status === 'Refunded' ? `${outcome.status}: payment refunded` : undefined;
    }
    // The purchase ends once it has started its session window, which schedules the sessions after.
    const { rows } = await db.query<{ count: string }>('SELECT count(*) FROM sessions WHERE allocation_id = $1', [outcome.allocationId]);
    const sessions = Number(rows[0]?.count ?? 0);
    return sessions ? `trainer ${outcome.trainerId}, ${sessions} sessions scheduled` : undefined;
  };

  await printOutcomes(stories, outcomeOf, 60);
}

export const purchaseDemo: PipelineDemo = {
  heading: 'Purchases: each payment ends with sessions scheduled, or refunded:',
  publish,
  printOutcomes: printPurchaseOutcomes,
};
