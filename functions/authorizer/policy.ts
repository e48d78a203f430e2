/** IAM policies the REQUEST authorizer returns (shapes as in AWS's authorizer output examples). */
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { admissionContextOf, type LimitRefusal } from '../../shared/domain/keys/admission.js';
import type { Admission } from '../../shared/domain/keys/verify.js';

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

/**
 * The Deny carries the caller-facing message and whether a retry can help (`x-should-retry`):
 * the ACCESS_DENIED gateway response shows both. Only a key that could not be verified right
 * now may pass on a retry.
 */
export function denyPolicy(methodArn: string, reason: string, message: string): APIGatewayAuthorizerResult {
  return {
    principalId: 'anonymous',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: methodArn || '*' }],
    },
    context: { reason, message, shouldRetry: String(reason === 'unavailable') },
  };
}
