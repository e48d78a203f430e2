/**
 * Every route of the requests function — POST /api/v1/requests, POST /v1/chat/completions,
 * POST /v1/messages, POST /v1/responses (one pipeline, a wire format each), GET /v1/models and
 * POST /v1/messages/count_tokens: guards (auth, the key's limits, method, media type, size) →
 * JSON body → validate, scopes, transform, invoke the brain → the route's answer (or its
 * stream); the key's limit headers on every answer, errors in the route's shape.
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
import { anthropicMessagesFormat, countTokens } from '../../shared/domain/requests/anthropic-messages.js';
import { chatCompletionsFormat } from '../../shared/domain/requests/chat-completions.js';
import { anthropicModelListOf, createModelList } from '../../shared/domain/requests/models.js';
import { responsesFormat } from '../../shared/domain/requests/openai-responses.js';
import {
  ANTHROPIC_PATHS,
  API_REQUESTS_PATH,
  CHAT_COMPLETIONS_PATH,
  COUNT_TOKENS_PATH,
  MESSAGES_PATH,
  MODELS_PATH,
  RESPONSES_PATH,
} from '../../shared/domain/requests/paths.js';
import { apiRequestsFormat, createRequestProcessor } from '../../shared/domain/requests/process.js';
import type { WireFormat } from '../../shared/domain/requests/wire-format.js';
import { HttpError } from '../../shared/errors.js';
import { getHeader } from './answers.js';
import {
  budgetMetrics,
  callerOf,
  headersOf,
  proxyAnswerOf,
  requestInputOf,
  requestMetrics,
  streamHeadersOf,
} from './edge.js';
import {
  anthropicRequestIdHeader,
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

/** The wire format of each route the one pipeline serves (infra/routes.ts names the same paths). */
const FORMATS: Readonly<Record<string, WireFormat>> = {
  [API_REQUESTS_PATH]: apiRequestsFormat,
  [CHAT_COMPLETIONS_PATH]: chatCompletionsFormat,
  [MESSAGES_PATH]: anthropicMessagesFormat,
  [RESPONSES_PATH]: responsesFormat,
};

/** Errors on Anthropic's routes are in Anthropic's shape (SPEC §3d), so its SDK reads them. */
const isAnthropicRoute = (resource: string | undefined) =>
  resource !== undefined && ANTHROPIC_PATHS.includes(resource);
const errorShapeOf = (resource: string | undefined) => (isAnthropicRoute(resource) ? 'anthropic' : 'keygate');

// requestGuards already checked the media type case-insensitively (middy's own check only
// reads two spellings of the header); the option exists in the implementation, not its types.
const jsonParserOptions = { disableContentTypeCheck: true, disableContentTypeError: false };

/** The buffered pipeline: every route's answer as a proxy result (a streamed one carries its events). */
export const answer = middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  // Its after/onError run after errorAnswers' onError: every answer, errors included, gets the headers.
  .use(limitHeaders())
  .use(anthropicRequestIdHeader(isAnthropicRoute))
  .use(errorAnswers(logger, metrics, errorShapeOf))
  .use(requestGuards(guardOf))
  .use(jsonBodyOf(httpJsonBodyParser(jsonParserOptions), guardOf))
  .handler(async (event, context) => {
    if (event.resource === MODELS_PATH) {
      const list = await models.list(callerOf(event));
      return proxyAnswerOf({
        statusCode: 200,
        // Anthropic's SDKs read the same route in their own shape; they always send this header.
        body: getHeader(event.headers, 'anthropic-version') === undefined ? list : anthropicModelListOf(list),
        requestId: requestIdOf(event),
        replayed: false,
      });
    }
    const input = requestInputOf(event, event.body as unknown, context?.getRemainingTimeInMillis?.());
    if (event.resource === COUNT_TOKENS_PATH) {
      // Anthropic's estimate of a request (SPEC §3d): no brain call, and the call is not counted.
      return proxyAnswerOf(processor.countTokens(input, headersOf(event), countTokens));
    }
    // One function, one pipeline, every route (infra/routes.ts): a route only translates its
    // body in and its answer out (SPEC §3b, §3d, §3e).
    const format = event.resource === undefined ? undefined : FORMATS[event.resource];
    if (!format) throw new HttpError('not_found');
    const outcome = await processor.handle(format, input, headersOf(event));
    return 'stream' in outcome ? streamingResult(outcome, streamHeadersOf(outcome)) : proxyAnswerOf(outcome);
  });

/** What Lambda runs: the answer written through response streaming (./streaming.ts). */
export const handler = streamingHandler(answer);
