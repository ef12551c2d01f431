import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { PaymentRunStarter } from '../../src/bridges/payment-runs';
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
