/** API Gateway REQUEST authorizer: one conditional UpdateItem per well-formed key, zero otherwise. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createAuthorizer } from './authorize.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { loadConfig, tablesConfigSchema } from '../../shared/adapters/config.js';
import { createLogger, createMetrics } from '../../shared/adapters/observability.js';
import { createTracer } from '../../shared/adapters/tracing.js';
import { createKeyServiceFor } from '../../shared/wiring.js';

const config = loadConfig(tablesConfigSchema);
const logger = createLogger('authorizer');
const metrics = createMetrics('authorizer');
const tracer = createTracer('authorizer');
// Short timeouts and one retry: a slow DynamoDB must become a quick refusal, not a hang.
const client = createDocumentClient({
  endpoint: config.DYNAMODB_ENDPOINT,
  connectionTimeoutMs: 500,
  requestTimeoutMs: 1500,
  maxAttempts: 2,
  tracer,
});
const keys = createKeyServiceFor(
  client,
  { apiKeys: config.API_KEYS_TABLE, users: config.USERS_TABLE },
  logger,
);
const authorize = createAuthorizer({ keys, logger, metrics });

export const handler = middy<APIGatewayRequestAuthorizerEvent | null, APIGatewayAuthorizerResult>()
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .handler((event) => authorize(event));
