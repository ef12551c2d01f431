import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { PaymentRunStarter } from '../../src/bridges/payment-runs';
import { paymentWorkflowId } from '../../src/contracts/payment';
import { createPaymentApi } from '../../src/payment-api/server';

/**
 * The payment API in this process, as the tests and the history recorder use it, with what the
 * bridges process adds in production: the starter of the accepted payments' runs, with `client`
 * (whose codecs also encrypt the orders in the ledger). Closing the API stops it.
 */
export async function paymentApiWithRuns({ db, client, taskQueue }: { db: Pool; client: Client; taskQueue?: string }): Promise<FastifyInstance> {
  const api = createPaymentApi({ db, dataConverter: client.options.dataConverter, taskQueue });
  const runs = new PaymentRunStarter({ db, client });
  await runs.start();
  api.addHook('onClose', () => runs.stop());
  return api;
}

/** The run of an accepted payment, once the starter has started it (the API's `202` comes first). */
export async function paymentRun(client: Client, paymentId: string): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(paymentWorkflowId(paymentId));
  for (let tries = 0; ; tries++) {
    try {
      await handle.describe();
      return handle;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || tries >= 150) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
