import { printOutcomes, type DemoContext, type PipelineDemo, type Stories } from './outcomes';
import { demoCards, pay, paymentStatus } from './pay';

/**
 * The payment part of the demo stream: what the payment API answers by itself. The payments for
 * courses and copays are in the purchase and prescription parts, where they are used.
 */
async function publish({ config, run }: DemoContext): Promise<Stories> {
  const body = {
    amountCents: 4900,
    currency: 'EUR',
    card: demoCards.declined,
    purpose: { kind: 'course' as const, studentId: `student_${run}_frank`, courseId: 'course_kafka' },
  };
  const { paymentId } = await pay(config, `demo-${run}-frank-kafka`, body);
  return { [paymentId]: "Frank's card is declined: no purchase" };
}

async function printPaymentOutcomes({ config }: DemoContext, stories: Stories): Promise<void> {
  const outcomeOf = async (paymentId: string) => {
    const payment = await paymentStatus(config, paymentId);
    if (!payment || payment.status === 'Accepted') return undefined;
    return payment.declineCode ? `${payment.status} (${payment.declineCode}), nothing charged` : payment.status;
  };
  await printOutcomes(stories, outcomeOf, 30);
}

export const paymentDemo: PipelineDemo = {
  heading: 'Payments: a declined card is an answer, not a retry loop:',
  publish,
  printOutcomes: printPaymentOutcomes,
};
