/** Where copay payment links point: the payment API's `/payment-links/<linkId>`. */
export const paymentLinksUrl = (paymentApiUrl: string): string => `${paymentApiUrl.replace(/\/$/, '')}/payment-links`;
