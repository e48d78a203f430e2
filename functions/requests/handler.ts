/**
 * POST /api/v1/requests, POST /v1/chat/completions and GET /v1/models: guards (auth, the key's
 * limits, method, media type, size) → JSON body → validate, scopes, transform, invoke the brain
 * → envelope; the key's limit headers on every answer.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createDocumentClient, createLambdaClient } from '../../shared/adapters/aws-clients.js';
import { createBrainCatalogue } from '../../shared/adapters/brain-catalogue.js';
import { createBrainClient } from '../../shared/adapters/brain-client.js';
import { createBrainStreamClient } from '../../shared/adapters/brain-stream-client.js';
import { loadConfig, requestsConfigSpec } from '../../shared/adapters/config.js';
import { DynamoBudgetStore } from '../../shared/adapters/dynamodb/budget-store.js';
import { DynamoIdempotencyStore } from '../../shared/adapters/dynamodb/idempotency-store.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { createMetrics } from '../../shared/adapters/observability/metrics.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { createBudgetLedger } from '../../shared/domain/budgets/ledger.js';
import { CHAT_COMPLETIONS_PATH } from '../../shared/domain/requests/chat-completions.js';
import { createModelList, MODELS_PATH } from '../../shared/domain/requests/models.js';
import { createRequestProcessor } from '../../shared/domain/requests/process.js';
import {
  budgetMetrics,
  callerOf,
  chatHeadersOf,
  proxyAnswerOf,
  requestInputOf,
  requestMetrics,
  streamHeadersOf,
} from './edge.js';
import {
  errorAnswers,
  jsonBodyOf,
  limitHeaders,
  type RouteGuard,
  requestGuards,
  requestIdOf,
} from './middleware.js';
import { streamingHandler, streamingResult } from './streaming.js';

const config = loadConfig(requestsConfigSpec);
const logger = createLogger('requests');
const metrics = createMetrics('requests');
const tracing = await loadTracing('requests');

const dynamo = createDocumentClient({
  endpoint: config.DYNAMODB_ENDPOINT,
  instrumentation: tracing?.instrumentation,
});

const lambda = createLambdaClient({
  endpoint: config.LAMBDA_ENDPOINT,
  requestTimeoutMs: config.BRAIN_TIMEOUT_MS + 1000,
  instrumentation: tracing?.instrumentation,
});

const brainClientOptions = {
  lambda,
  functionName: config.BRAIN_FUNCTION_NAME,
  timeoutMs: config.BRAIN_TIMEOUT_MS,
  logger,
};

const processor = createRequestProcessor({
  invokeBrain: createBrainClient(brainClientOptions),
  invokeBrainStream: createBrainStreamClient(brainClientOptions),
  idempotency: new DynamoIdempotencyStore({ client: dynamo, tableName: config.IDEMPOTENCY_TABLE }),
  budgets: createBudgetLedger({
    store: new DynamoBudgetStore(dynamo, config.BUDGETS_TABLE),
    logger,
    telemetry: budgetMetrics(metrics),
  }),
  brainLimits: { waitMs: config.BRAIN_TIMEOUT_MS, maxDurationMs: config.BRAIN_MAX_DURATION_MS },
  logger,
  telemetry: requestMetrics(metrics),
});

const models = createModelList({
  readCatalogue: createBrainCatalogue({
    lambda,
    functionName: config.BRAIN_FUNCTION_NAME,
    timeoutMs: config.BRAIN_TIMEOUT_MS,
  }),
  logger,
});

const POST_WITH_BODY: RouteGuard = { method: 'POST', body: true };
const GET: RouteGuard = { method: 'GET', body: false };
const guardOf = (resource: string | undefined): RouteGuard =>
  resource === MODELS_PATH ? GET : POST_WITH_BODY;

// requestGuards already checked the media type case-insensitively (middy's own check only
// reads two spellings of the header); the option exists in the implementation, not its types.
const jsonParserOptions = { disableContentTypeCheck: true, disableContentTypeError: false };

/** The buffered pipeline: every route's answer as a proxy result (a streamed one carries its events). */
export const answer = middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  // Its after/onError run after errorAnswers' onError: every answer, errors included, gets the headers.
  .use(limitHeaders())
  .use(errorAnswers(logger, metrics))
  .use(requestGuards(guardOf))
  .use(jsonBodyOf(httpJsonBodyParser(jsonParserOptions), guardOf))
  .handler(async (event, context) => {
    if (event.resource === MODELS_PATH) {
      return proxyAnswerOf({
        statusCode: 200,
        body: await models.list(callerOf(event)),
        requestId: requestIdOf(event),
        replayed: false,
      });
    }
    const input = requestInputOf(event, event.body as unknown, context?.getRemainingTimeInMillis?.());
    // One function, one pipeline, two routes (infra/routes.ts): the OpenAI-compatible one only
    // translates its body in and its answer out (SPEC §3b).
    if (event.resource !== CHAT_COMPLETIONS_PATH) return proxyAnswerOf(await processor.api(input));
    const chat = await processor.chat(input, chatHeadersOf(event));
    return 'stream' in chat ? streamingResult(chat, streamHeadersOf(chat)) : proxyAnswerOf(chat);
  });

/** What Lambda runs: the answer written through response streaming (./streaming.ts). */
export const handler = streamingHandler(answer);
