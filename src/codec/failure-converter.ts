import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Error messages and stack traces can quote the data they failed on (a user's name in a
 * validation message), so they go into the failure's encoded attributes, through the payload
 * codec, instead of staying plain text in the history. Loaded by path (`failureConverterPath`)
 * because workflow code converts its errors inside the workflow sandbox; it therefore imports
 * nothing but @temporalio/common.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
