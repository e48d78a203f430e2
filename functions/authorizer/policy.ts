/** IAM policies the REQUEST authorizer returns (shapes as in AWS's authorizer output examples). */
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { admissionContextOf, type LimitRefusal } from '../../shared/domain/keys/admission.js';
import type { Admission } from '../../shared/domain/keys/verify.js';
import { ANTHROPIC_PATHS } from '../../shared/domain/requests/paths.js';
import { type AuthRefusalReason, anthropicErrorBody, errorEnvelope } from '../../shared/errors.js';

/**
 * `arn:aws:execute-api:region:account:apiId/stage/METHOD/path` → every method and path of
 * that API stage. The result cache is off (TTL 0), so a broad Allow is never reused for
 * another key; it only spares a per-route policy.
 */
export function stageWildcardArn(methodArn: string): string {
  // The api id ends the colon-separated part, so the first slash-separated part carries it.
  const [arnPrefix, stage] = methodArn.split('/');
  if (!arnPrefix || !stage) return methodArn;
  return `${arnPrefix}/${stage}/*/*`;
}

/**
 * An Allow for a usable key. A call over one of its limits is admitted too, carrying the
 * refusal: the requests function answers it 429 before anything else (a Deny can only ever
 * become a 401 through the gateway response).
 */
export function allowPolicy(
  methodArn: string,
  admission: Admission,
  refusal?: LimitRefusal,
): APIGatewayAuthorizerResult {
  return {
    principalId: admission.userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcardArn(methodArn) }],
    },
    context: admissionContextOf(admission, refusal),
  };
}

/** Where a refused call was going: its route decides the shape of the refusal's body. */
export interface RefusedCall {
  methodArn: string;
  /** The route (the event's `resource`), e.g. `/v1/messages`. */
  resource: string | undefined;
  /** API Gateway's request id, the `request_id` of the answer. */
  requestId: string | undefined;
}

/**
 * The Deny carries the whole body of the 401 in the shape of the route it was for — keygate's
 * envelope, or Anthropic's on /v1/messages (SPEC §3d), so each SDK reads its own error — and
 * whether a retry can help (`x-should-retry`): the ACCESS_DENIED gateway response shows both
 * (its template is only `$context.authorizer.body`). Only a key that could not be verified
 * right now may pass on a retry.
 */
export function denyPolicy(
  call: RefusedCall,
  reason: AuthRefusalReason,
  message: string,
): APIGatewayAuthorizerResult {
  const requestId = call.requestId || 'unknown';
  const body =
    call.resource !== undefined && ANTHROPIC_PATHS.includes(call.resource)
      ? anthropicErrorBody('unauthorized', message, requestId)
      : errorEnvelope('unauthorized', requestId, message);
  return {
    principalId: 'anonymous',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: call.methodArn || '*' }],
    },
    context: {
      reason,
      message,
      body: JSON.stringify(body),
      shouldRetry: String(reason === 'unavailable'),
    },
  };
}
