/** POST /api/v1/requests: guards → JSON body → validate, transform, invoke the brain → envelope. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createBrainClient } from '../../shared/adapters/brain-client.js';
import { createDocumentClient, createLambdaClient } from '../../shared/adapters/aws-clients.js';
import { loadConfig, requestsConfigSchema } from '../../shared/adapters/config.js';
import { errorEnvelope, requestGuards } from './middleware.js';
import { IdempotencyStore } from '../../shared/adapters/dynamodb/idempotency-store.js';
import { createLogger, createMetrics } from '../../shared/adapters/observability.js';
import { createRequestProcessor } from '../../shared/domain/requests/process.js';
import { createTracer } from '../../shared/adapters/tracing.js';

const config = loadConfig(requestsConfigSchema);
const logger = createLogger('requests');
const metrics = createMetrics('requests');
const tracer = createTracer('requests');

const processRequest = createRequestProcessor({
  invokeBrain: createBrainClient({
    lambda: createLambdaClient({
      endpoint: config.LAMBDA_ENDPOINT,
      requestTimeoutMs: config.BRAIN_TIMEOUT_MS + 1000,
      tracer,
    }),
    functionName: config.BRAIN_FUNCTION_NAME,
    timeoutMs: config.BRAIN_TIMEOUT_MS,
    logger,
  }),
  idempotency: new IdempotencyStore({
    client: createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, tracer }),
    tableName: config.IDEMPOTENCY_TABLE,
    inProgressMs: config.BRAIN_TIMEOUT_MS + 5000,
  }),
  logger,
  metrics,
});

// requestGuards already checked the media type case-insensitively (middy's own check only
// reads two spellings of the header); the option exists in the implementation, not its types.
const jsonParserOptions = { disableContentTypeCheck: true, disableContentTypeError: false };

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .use(errorEnvelope(logger, metrics))
  .use(requestGuards({ allowedMethod: 'POST' }))
  .use(httpJsonBodyParser(jsonParserOptions))
  .handler(async (event) => processRequest(event, event.body as unknown));
