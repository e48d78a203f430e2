/** API Gateway event shapes (REST API, Lambda REQUEST authorizer and proxy integration) for tests. */
import { randomUUID } from 'node:crypto';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';

export const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/POST/api/v1/requests';

type Headers = Record<string, string> | null;

function identity(): APIGatewayProxyEvent['requestContext']['identity'] {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: '203.0.113.7',
    user: null,
    userAgent: 'vitest',
    userArn: null,
  };
}

function multiValue(headers: Headers): Record<string, string[]> | null {
  if (!headers) return null;
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]]));
}

/** A REQUEST authorizer event as API Gateway (REST) sends it; `headers: null` as the console's Test button does. */
export function authorizerEvent(headers: Headers, method = 'POST'): APIGatewayRequestAuthorizerEvent {
  const requestId = randomUUID();
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN.replace('/POST/', `/${method}/`),
    resource: '/api/v1/requests',
    path: '/api/v1/requests',
    httpMethod: method,
    headers,
    multiValueHeaders: multiValue(headers),
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      authorizer: undefined,
      httpMethod: method,
      identity: identity(),
      path: '/dev/api/v1/requests',
      protocol: 'HTTP/1.1',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'res123',
      resourcePath: '/api/v1/requests',
      stage: 'dev',
    },
  };
}

/**
 * What the integration receives from an Allow: every context value stringified, plus
 * `principalId` and a numeric `integrationLatency` (SPEC §8).
 */
export function integrationContextOf(result: APIGatewayAuthorizerResult): Record<string, unknown> {
  const context = Object.fromEntries(
    Object.entries(result.context ?? {}).map(([name, value]) => [name, String(value)]),
  );
  return { ...context, principalId: result.principalId, integrationLatency: 12 };
}

export interface ProxyEventOptions {
  method?: string;
  headers?: Headers;
  body?: string | null;
  isBase64Encoded?: boolean;
  /** The authorizer context; `null` for none (the console's Test button). */
  authorizer?: Record<string, unknown> | null;
  requestId?: string;
}

export const DEFAULT_CALLER = {
  userId: 'user-1',
  keyId: 'key_abc123',
  projectId: 'proj-key',
  principalId: 'user-1',
  integrationLatency: 3,
};

/** An API Gateway REST proxy event for POST /api/v1/requests. */
export function proxyEvent(options: ProxyEventOptions = {}): APIGatewayProxyEvent {
  const method = options.method ?? 'POST';
  const headers = options.headers === undefined ? { 'Content-Type': 'application/json' } : options.headers;
  return {
    resource: '/api/v1/requests',
    path: '/api/v1/requests',
    httpMethod: method,
    // Empty maps arrive as null (SPEC §8), whatever the typings say.
    headers: headers as APIGatewayProxyEvent['headers'],
    multiValueHeaders: multiValue(headers) as APIGatewayProxyEvent['multiValueHeaders'],
    body: options.body === undefined ? null : options.body,
    isBase64Encoded: options.isBase64Encoded ?? false,
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      authorizer: options.authorizer === undefined ? { ...DEFAULT_CALLER } : options.authorizer,
      httpMethod: method,
      identity: identity(),
      path: '/dev/api/v1/requests',
      protocol: 'HTTP/1.1',
      requestId: options.requestId ?? randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'res123',
      resourcePath: '/api/v1/requests',
      stage: 'dev',
    },
  };
}
