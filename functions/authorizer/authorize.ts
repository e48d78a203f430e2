/**
 * The REQUEST authorizer at the edge: headers in, IAM policy out. Fails closed: every path that is not a verified,
 * active key — including any DynamoDB failure — returns a Deny, never throws, never Allows.
 */

import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import {
  createOutcomeCounter,
  type KeygateMetrics,
  type OutcomeCounter,
} from '../../shared/adapters/observability/metrics.js';
import { hashKey, hashPrefix, keyStart } from '../../shared/domain/keys/format.js';
import {
  isLimitRefusal,
  type KeyVerifier,
  type LimitRefusalReason,
} from '../../shared/domain/keys/verify.js';
import type { LogSink } from '../../shared/domain/ports.js';
import { UNCOUNTED_PATHS } from '../../shared/domain/requests/paths.js';
import { AUTH_MESSAGES, type AuthRefusalReason } from '../../shared/errors.js';
import { extractApiKey } from './credentials.js';
import { allowPolicy, denyPolicy, type RefusedCall } from './policy.js';

export interface AuthorizerDeps {
  keys: KeyVerifier;
  logger: Pick<LogSink, 'info' | 'error'>;
  /** One AuthDecision per call, by outcome (decisionCounter). */
  countDecision: OutcomeCounter;
}

/**
 * Time kept back from the Lambda timeout to answer: a verification still running then is
 * abandoned and refused by us, never cut off by the timeout (API Gateway's own 500).
 */
export const ANSWER_MARGIN_MS = 750;
/** The longest the verification may take even when the function has more time. */
export const MAX_VERIFY_MS = 4_000;

/** The verification's time budget for an invocation with `remainingMs` left (from its Context). */
export function verifyBudgetMs(remainingMs: number | undefined): number {
  if (remainingMs === undefined || !Number.isFinite(remainingMs)) return MAX_VERIFY_MS;
  return Math.max(0, Math.min(MAX_VERIFY_MS, remainingMs - ANSWER_MARGIN_MS));
}

/**
 * Runs `verify` with a signal that aborts after `ms`, its timer cleared as soon as `verify`
 * ends: an AbortSignal.timeout() would stay armed and fire seconds later for every call,
 * a cost the bench measured on the hot path.
 */
async function withinBudget<T>(ms: number, verify: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('the verification ran out of time', 'TimeoutError')),
    ms,
  );
  try {
    return await verify(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** The authorizer's one metric: AuthDecision = 1 per call, with its `outcome` (the alarms and dashboard read it). */
export function decisionCounter(metrics: KeygateMetrics): OutcomeCounter {
  return createOutcomeCounter(metrics, 'AuthDecision', 'outcome');
}

export function createAuthorizer(deps: AuthorizerDeps) {
  const { keys, logger } = deps;
  const count: (outcome: 'allowed' | AuthRefusalReason | LimitRefusalReason) => void = deps.countDecision;

  function refuse(call: RefusedCall, reason: AuthRefusalReason, fields: Record<string, unknown> = {}) {
    logger.info('request refused', { reason, ...fields });
    count(reason);
    return denyPolicy(call, reason, AUTH_MESSAGES[reason]);
  }

  return async function authorize(
    event: APIGatewayRequestAuthorizerEvent | null | undefined,
    /** Milliseconds this invocation has left (Context.getRemainingTimeInMillis()). */
    remainingMs?: number,
  ): Promise<APIGatewayAuthorizerResult> {
    const methodArn = typeof event?.methodArn === 'string' ? event.methodArn : '';
    // API Gateway's request id: the `request_id` of the caller's 401/429 answer, so ops can find this line.
    const apiRequestId = event?.requestContext?.requestId;
    const requestId =
      typeof apiRequestId === 'string' && apiRequestId !== '' ? { request_id: apiRequestId } : {};
    const resource = typeof event?.resource === 'string' ? event.resource : undefined;
    const call: RefusedCall = { methodArn, resource, requestId: requestId.request_id };
    // The console's Test button sends `headers: null`: that is a missing key, not a crash.
    const extracted = extractApiKey(event?.headers, event?.multiValueHeaders);
    if (!extracted.ok) return refuse(call, extracted.reason, requestId);
    // A call nothing is asked of the brain for (count_tokens) is verified without being counted.
    const counted = resource === undefined || !UNCOUNTED_PATHS.includes(resource);

    try {
      // A write still unanswered when the budget ends is in doubt: refused, never repeated.
      const result = await withinBudget(verifyBudgetMs(remainingMs), (signal) =>
        counted ? keys.verify(extracted.key, signal) : keys.check(extracted.key, signal),
      );
      if (isLimitRefusal(result)) {
        // Not counted, and answered 429 by the requests function from this context.
        logger.info('request over a key limit', {
          reason: result.reason,
          ...requestId,
          key_id: result.keyId,
          user_id: result.userId,
        });
        count(result.reason);
        const { ok: _ok, reason, retryAfterSeconds, ...admission } = result;
        return allowPolicy(methodArn, admission, {
          reason,
          ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
        });
      }
      if (!result.ok) {
        // Malformed keys were refused without a database call. Others get what ops can match a
        // report with: the key's display start (`kg_live_AbCd`, as `list` shows it), a hash
        // prefix, and whose key it is when the store knows it.
        const fields =
          result.reason === 'malformed'
            ? requestId
            : {
                ...requestId,
                key_start: keyStart(extracted.key),
                hash_prefix: hashPrefix(hashKey(extracted.key)),
                ...(result.keyId !== undefined ? { key_id: result.keyId, user_id: result.userId } : {}),
              };
        return refuse(call, result.reason, fields);
      }
      // No log line: API Gateway's access log and the requests function record each allowed call.
      count('allowed');
      return allowPolicy(methodArn, result);
    } catch (error) {
      // DynamoDB down, throttled, slow past the budget or its answer lost: refuse, and make the
      // failure visible to ops.
      logger.error('key verification failed; refusing', {
        ...requestId,
        hash_prefix: hashPrefix(hashKey(extracted.key)),
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message : String(error),
      });
      count('unavailable');
      return denyPolicy(call, 'unavailable', AUTH_MESSAGES.unavailable);
    }
  };
}
