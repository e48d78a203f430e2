/** API Gateway REQUEST authorizer: one conditional UpdateItem per well-formed key, zero otherwise. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { authorizerConfigSpec, loadConfig } from '../../shared/adapters/config.js';
import { DynamoKeyVerificationStore } from '../../shared/adapters/dynamodb/key-verification-store.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { createMetrics } from '../../shared/adapters/observability/metrics.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { createKeyVerifier } from '../../shared/domain/keys/verify.js';
import { createAuthorizer, decisionCounter, MAX_VERIFY_MS } from './authorize.js';

const config = loadConfig(authorizerConfigSpec);
const logger = createLogger('authorizer');
const countDecision = decisionCounter(createMetrics('authorizer'));
const tracing = await loadTracing('authorizer');
// A late answer is waited for within the invocation's time budget (verifyBudgetMs), never
// retried: a verify write applied twice would count a call twice. Only a throttle or a
// connection never made is retried (once).
const client = createDocumentClient({
  endpoint: config.DYNAMODB_ENDPOINT,
  connectionTimeoutMs: 500,
  requestTimeoutMs: MAX_VERIFY_MS,
  maxAttempts: 2,
  instrumentation: tracing?.instrumentation,
});
const authorize = createAuthorizer({
  keys: createKeyVerifier({
    keys: new DynamoKeyVerificationStore(client, config.API_KEYS_TABLE),
    environment: config.KEY_ENVIRONMENT,
  }),
  logger,
  countDecision,
});

export const handler = middy<APIGatewayRequestAuthorizerEvent | null, APIGatewayAuthorizerResult>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  .handler((event, context) => authorize(event, context.getRemainingTimeInMillis?.()));
