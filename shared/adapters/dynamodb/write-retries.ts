/**
 * Which DynamoDB failures may be retried (docs/decisions/0011-exact-under-late-answers.md).
 * A write DynamoDB applied whose answer came late or was lost looks, to the client, like
 * any other timeout or reset; retried blindly it is applied twice (a call counted twice, a
 * limit L admitting L+1). So the SDK retries only failures that prove nothing was applied:
 * DynamoDB's own throttling answers and connections never made. Everything else reaches the
 * caller, which either fails closed or repeats a write that recognises its own first outcome.
 */
import { StandardRetryStrategy } from '@smithy/core/retry';

type RetryToken = Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>[0];
type RetryErrorInfo = Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>[1];

/** DynamoDB refused the request before applying it (throttling, a transaction holding the item). */
const REFUSED_UNAPPLIED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TransactionConflictException',
]);
/** The request never left this machine: no connection was made. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NEVER_CONNECTED = /did not establish a connection|without establishing a connection/i;

/** True only when the failure proves DynamoDB did not apply the request. */
export function provesNotApplied(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (REFUSED_UNAPPLIED.has(error.name)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NEVER_SENT_CODES.has(code)) return true;
  return error.name === 'TimeoutError' && NEVER_CONNECTED.test(error.message);
}

/**
 * A failure whose outcome is unknown: the request may have been applied. Condition failures,
 * validation errors and throttles are answers, not doubts.
 */
export function outcomeUnknown(error: unknown): boolean {
  if (!(error instanceof Error) || provesNotApplied(error)) return false;
  const fault = (error as { $fault?: unknown }).$fault;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // A 4xx from DynamoDB is a refusal of the request as sent; no answer or a 5xx is a doubt.
  return !(fault === 'client' && status !== undefined && status >= 400 && status < 500);
}

/** The SDK's standard strategy (backoff, retry quota), refusing to retry anything in doubt. */
export class ProvenUnappliedRetryStrategy extends StandardRetryStrategy {
  override async refreshRetryTokenForRetry(
    token: RetryToken,
    errorInfo: RetryErrorInfo,
  ): Promise<RetryToken> {
    if (!provesNotApplied(errorInfo.error)) {
      // The SDK's retry middleware answers the original error when no token is given.
      throw new Error('not retried: DynamoDB may have applied the request');
    }
    return super.refreshRetryTokenForRetry(token, errorInfo);
  }
}
