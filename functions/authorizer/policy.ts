/** IAM policies the REQUEST authorizer returns (shapes as in AWS's authorizer output examples). */
import type { APIGatewayAuthorizerResult } from 'aws-lambda';

export interface AllowContext {
  userId: string;
  keyId: string;
  projectId: string;
}

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

export function allowPolicy(methodArn: string, context: AllowContext): APIGatewayAuthorizerResult {
  return {
    principalId: context.userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcardArn(methodArn) }],
    },
    context: { userId: context.userId, keyId: context.keyId, projectId: context.projectId },
  };
}

/** The Deny carries the caller-facing message; the ACCESS_DENIED gateway response shows it. */
export function denyPolicy(methodArn: string, reason: string, message: string): APIGatewayAuthorizerResult {
  return {
    principalId: 'anonymous',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: methodArn || '*' }],
    },
    context: { reason, message },
  };
}
