/** The REQUEST authorizer event API Gateway sends for a call with `apiKey`, as the bench steps drive it. */
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';

export function authorizerEventFor(apiKey: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:bench/dev/POST/api/v1/requests',
    resource: '/api/v1/requests',
    path: '/api/v1/requests',
    httpMethod: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    multiValueHeaders: { Authorization: [`Bearer ${apiKey}`], 'Content-Type': ['application/json'] },
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}
