import { defaultPayloadConverter, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PaymentOrder } from '../contracts/payment';

/**
 * A payment's run as its ledger row keeps it (`payments.run_order`) from the API's `202` until
 * Temporal has acknowledged the start: the order, card number included, and the task queue of the
 * workers that run it (tests' APIs have their own). Encoded by the payload codecs (the project's
 * encryption) as Temporal's history holds a start's arguments, so never in clear.
 */
export interface PaymentRun {
  order: PaymentOrder;
  taskQueue: string;
}

export async function encodeRun(run: PaymentRun, codecs: PayloadCodec[]): Promise<Buffer> {
  let payloads = [defaultPayloadConverter.toPayload(run)];
  for (const codec of codecs) payloads = await codec.encode(payloads);
  return Buffer.from(temporal.api.common.v1.Payloads.encode({ payloads }).finish());
}

export async function decodeRun(runOrder: Buffer, codecs: PayloadCodec[]): Promise<PaymentRun> {
  let { payloads } = temporal.api.common.v1.Payloads.decode(runOrder);
  for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
  return defaultPayloadConverter.fromPayload<PaymentRun>(payloads[0]!);
}
