/**
 * JSON Schema and OpenAPI 3 for every route (POST /api/v1/requests, POST /v1/chat/completions,
 * GET /v1/models, POST /v1/messages, POST /v1/messages/count_tokens, POST /v1/responses,
 * POST /api/v1/secret-scanning/github),
 * generated from the zod schemas (never hand-copied). `npm run openapi` writes
 * docs/openapi.json; a test keeps it current; the stack uses `requestBodyJsonSchema('draft-4', body)`
 * as each route's API Gateway model.
 */
import * as z from 'zod';
import { apiSuccessSchema } from '../shared/domain/brain/contract.js';
import { leakReportAnswerSchema, leakReportSchema } from '../shared/domain/leaks/report.js';
import { KEY_IDENTIFIER_HEADER, SIGNATURE_HEADER } from '../shared/domain/leaks/signature.js';
import {
  anthropicErrorSchema,
  anthropicMessageAnswerSchema,
  anthropicTokenCountSchema,
  responseAnswerSchema,
} from '../shared/domain/requests/answer-schemas.js';
import {
  anthropicCountTokensRequestSchema,
  anthropicMessagesRequestSchema,
} from '../shared/domain/requests/anthropic-schema.js';
import {
  chatCompletionRequestSchema,
  chatCompletionSchema,
} from '../shared/domain/requests/chat-completions.js';
import { anthropicModelListSchema, MODELS_PATH, modelListSchema } from '../shared/domain/requests/models.js';
import { responsesRequestSchema } from '../shared/domain/requests/responses-schema.js';
import { apiRequestSchema } from '../shared/domain/requests/schema.js';
import { ERROR_CODES, errorEnvelopeSchema, statusOf } from '../shared/errors.js';
import { type RequestBodyName, ROUTES } from './routes.js';

const REQUEST_BODIES: Record<RequestBodyName, z.core.$ZodType> = {
  requests: apiRequestSchema,
  'chat-completions': chatCompletionRequestSchema,
  'anthropic-messages': anthropicMessagesRequestSchema,
  'anthropic-count-tokens': anthropicCountTokensRequestSchema,
  responses: responsesRequestSchema,
  'secret-scanning': leakReportSchema,
};

export function requestBodyJsonSchema(
  target: 'draft-4' | 'openapi-3.0' = 'draft-4',
  body: RequestBodyName = 'requests',
): Record<string, unknown> {
  return z.toJSONSchema(REQUEST_BODIES[body], { target, io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

/** The one envelope definition (shared/errors.ts), with OpenAI's error `type`. */
const errorEnvelope = errorEnvelopeSchema(z);

const jsonContent = (schema: z.core.$ZodType) => ({
  'application/json': {
    schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'output', unrepresentable: 'any' }),
  },
});

const STANDARD_HEADERS = {
  'X-Request-Id': { description: 'The request id, also in the body.', schema: { type: 'string' } },
  'Strict-Transport-Security': { schema: { type: 'string' } },
  'Cache-Control': { schema: { type: 'string' } },
};

const integer = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });

/** On every answer to an authenticated key with a rate limit / quota (SPEC §3). */
const LIMIT_HEADERS = {
  'RateLimit-Limit': integer('Calls the key’s rate limit allows per window (keys with a rate limit).'),
  'RateLimit-Remaining': integer('Calls left in the current window.'),
  'RateLimit-Reset': integer('Seconds until the current window ends.'),
  'X-Quota-Limit': integer('Calls the key’s quota allows per period (keys with a quota).'),
  'X-Quota-Remaining': integer('Calls left in the current period.'),
  'X-Quota-Reset': integer('Seconds until the next period (day and month quotas only).'),
};

const RETRY_AFTER = {
  'Retry-After': integer('Whole seconds to wait before retrying; absent when waiting does not help.'),
};

/** On every error answer (SPEC §3b): whether an SDK may retry it by itself. */
const SHOULD_RETRY = {
  'x-should-retry': {
    description:
      'true where a retry is safe and can help (a 429 with Retry-After, 503, an Idempotency-Key still running); false where a retry could make the brain act twice or cannot succeed. OpenAI and Anthropic SDKs obey it.',
    schema: { type: 'string', enum: ['true', 'false'] },
  },
};

/** Each defined once under components.headers, referenced by the responses that carry it. */
const refs = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.keys(headers).map((name) => [name, { $ref: `#/components/headers/${name}` }]));

/** Statuses answered before a key is known: no limit headers. */
const UNAUTHENTICATED_STATUSES = new Set([401, 404]);

/** What the secret-scanning endpoint answers besides 200: it has no key, hence no key limits. */
const SECRET_SCANNING_ERROR_STATUSES = [400, 401, 405, 413, 415, 500];

export function buildOpenApiDocument(): Record<string, unknown> {
  const errorStatuses = [...new Set(ERROR_CODES.map(statusOf))].sort();
  const errorDescription = (status: number) =>
    `Error: ${ERROR_CODES.filter((code) => statusOf(code) === status).join(', ')}`;
  /** Every error status of a route, its body keygate's envelope or (Anthropic's routes) Anthropic's. */
  const errorResponsesIn = (
    body: z.core.$ZodType,
    options: { limitHeaders: boolean } = { limitHeaders: true },
  ) =>
    Object.fromEntries(
      errorStatuses.map((status) => [
        String(status),
        {
          description: errorDescription(status),
          headers: {
            ...STANDARD_HEADERS,
            ...(UNAUTHENTICATED_STATUSES.has(status) || !options.limitHeaders ? {} : refs(LIMIT_HEADERS)),
            // 429: the key's limits; 409: an Idempotency-Key still running or in doubt (SPEC §3).
            ...(status === 429 || status === 409 ? refs(RETRY_AFTER) : {}),
            ...refs(SHOULD_RETRY),
          },
          content: jsonContent(body),
        },
      ]),
    );
  const errorResponses = errorResponsesIn(errorEnvelope);
  const anthropicErrorResponses = errorResponsesIn(anthropicErrorSchema);
  // count_tokens spends no limit (SPEC §3d): none of its answers carries the key's limit numbers.
  const uncountedAnthropicErrorResponses = errorResponsesIn(anthropicErrorSchema, { limitHeaders: false });
  const idempotencyKey = {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Repeat-safe retries: one key never makes the brain act twice. The same key and body within 24 h returns the first answer; while the first request runs, or after a 504 until the brain has surely finished, 409 with Retry-After, then the repeat runs as the same request (the same request_id).',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  };
  const githubHeader = (name: string, description: string) => ({
    name,
    in: 'header',
    required: true,
    description,
    schema: { type: 'string', minLength: 1 },
  });
  const keygateHeader = (name: string, description: string) => ({
    name,
    in: 'header',
    required: false,
    description,
    schema: { type: 'string', minLength: 1, maxLength: 128 },
  });
  /** A keyed route's POST: its body from zod, its 200 answer, and its errors in the route's shape. */
  const keyedOperation = (operation: {
    operationId: string;
    summary: string;
    description?: string;
    parameters: Array<Record<string, unknown>>;
    body: RequestBodyName;
    answer: { description: string; schema: z.core.$ZodType; limitHeaders?: boolean };
    errors: Record<string, unknown>;
  }) => ({
    operationId: operation.operationId,
    summary: operation.summary,
    ...(operation.description === undefined ? {} : { description: operation.description }),
    parameters: operation.parameters,
    requestBody: {
      required: true,
      content: { 'application/json': { schema: requestBodyJsonSchema('openapi-3.0', operation.body) } },
    },
    responses: {
      '200': {
        description: operation.answer.description,
        headers:
          operation.answer.limitHeaders === false
            ? STANDARD_HEADERS
            : { ...STANDARD_HEADERS, ...refs(LIMIT_HEADERS) },
        content: jsonContent(operation.answer.schema),
      },
      ...operation.errors,
    },
  });
  const keygateIds = (agentDefault: string) => [
    keygateHeader('Keygate-Project-Id', 'The project of the request (default: the key’s).'),
    keygateHeader('Keygate-Agent-Id', `The calling agent (default: the body’s ${agentDefault}).`),
  ];
  const operations: Record<RequestBodyName, () => Record<string, unknown>> = {
    requests: () =>
      keyedOperation({
        operationId: 'createRequest',
        summary: 'Ask the brain to approve, pay for and run an AI API call',
        parameters: [idempotencyKey],
        body: 'requests',
        answer: {
          description:
            'The brain decided (approved, rejected, escalated, …); success is true only when approved.',
          schema: apiSuccessSchema,
        },
        errors: errorResponses,
      }),
    'chat-completions': () =>
      keyedOperation({
        operationId: 'createChatCompletion',
        summary: 'OpenAI-compatible chat completion: the same brain, auth, limits, scopes and idempotency',
        parameters: [idempotencyKey, ...keygateIds('`user`')],
        body: 'chat-completions',
        answer: {
          description: 'The brain approved: its answer as an OpenAI chat.completion.',
          schema: chatCompletionSchema,
        },
        errors: errorResponses,
      }),
    'anthropic-messages': () =>
      keyedOperation({
        operationId: 'createMessage',
        summary:
          'Anthropic-compatible Messages API: the same brain, auth, limits, scopes, budget and idempotency',
        description:
          'For the Anthropic SDKs and agents built on them (base URL https://<host>, the key as x-api-key or Authorization: Bearer). anthropic-version and anthropic-beta are passed to the brain. stream: true answers Anthropic’s server-sent events (message_start … message_stop). Errors are in Anthropic’s shape.',
        parameters: [
          idempotencyKey,
          keygateHeader('anthropic-version', 'Anthropic’s API version, passed to the brain.'),
          keygateHeader('anthropic-beta', 'Anthropic beta features (comma-separated), passed to the brain.'),
          ...keygateIds('metadata.user_id'),
        ],
        body: 'anthropic-messages',
        answer: {
          description: 'The brain approved: its answer as an Anthropic message.',
          schema: anthropicMessageAnswerSchema,
        },
        errors: anthropicErrorResponses,
      }),
    'anthropic-count-tokens': () =>
      keyedOperation({
        operationId: 'countMessageTokens',
        summary:
          'Anthropic-compatible token count: the estimate the reference brain uses; no brain call, not counted',
        parameters: [
          keygateHeader('anthropic-version', 'Anthropic’s API version.'),
          keygateHeader('anthropic-beta', 'Anthropic beta features (comma-separated).'),
        ],
        body: 'anthropic-count-tokens',
        answer: {
          description: 'The estimated input tokens of the request.',
          schema: anthropicTokenCountSchema,
          limitHeaders: false,
        },
        errors: uncountedAnthropicErrorResponses,
      }),
    responses: () =>
      keyedOperation({
        operationId: 'createResponse',
        summary: 'OpenAI-compatible Responses API: the same brain request as chat completions',
        description:
          'For the OpenAI Agents SDK and Responses API clients. keygate keeps no conversation state and runs no tools: previous_response_id and built-in tools are refused naming them; store must be false or absent. stream: true answers the Responses server-sent events (response.created … response.completed).',
        parameters: [idempotencyKey, ...keygateIds('`user`')],
        body: 'responses',
        answer: {
          description: 'The brain approved: its answer as an OpenAI response.',
          schema: responseAnswerSchema,
        },
        errors: errorResponses,
      }),
    'secret-scanning': () => ({
      operationId: 'reportLeakedKeys',
      summary: 'GitHub secret scanning reports keys found in public code; ours are revoked at once',
      description:
        'Called by GitHub (secret scanning partner program), not by clients: no API key, each call is authenticated by GitHub’s ECDSA P-256 signature over the raw body, checked against GitHub’s published keys. A missing or bad signature and an unknown key identifier answer 401, and nothing is revoked.',
      security: [],
      parameters: [
        githubHeader(
          KEY_IDENTIFIER_HEADER,
          'Which of GitHub’s published secret-scanning keys signed the body.',
        ),
        githubHeader(SIGNATURE_HEADER, 'Base64 DER ECDSA P-256 / SHA-256 signature over the raw body bytes.'),
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: requestBodyJsonSchema('openapi-3.0', 'secret-scanning') },
        },
      },
      responses: {
        '200': {
          description:
            'One entry per reported token: its hex SHA-256, the reported type, and true_positive (one of our keys: revoked now, if it was not already) or false_positive.',
          headers: STANDARD_HEADERS,
          content: jsonContent(leakReportAnswerSchema),
        },
        ...Object.fromEntries(
          SECRET_SCANNING_ERROR_STATUSES.map((status) => [
            String(status),
            {
              description: errorDescription(status),
              headers: STANDARD_HEADERS,
              content: jsonContent(errorEnvelope),
            },
          ]),
        ),
      },
    }),
  };
  /** The routes read with GET (no body), by path. */
  const readOperations: Record<string, () => Record<string, unknown>> = {
    [MODELS_PATH]: () => ({
      operationId: 'listModels',
      summary: 'OpenAI-compatible model list: the brain’s catalogue, as far as this key’s scopes allow',
      responses: {
        '200': {
          description:
            'The models this key may use, ids written provider/model as the chat route takes them; in Anthropic’s shape (bare ids for provider anthropic, as /v1/messages takes them) when the request sends anthropic-version, as Anthropic’s SDKs do.',
          headers: { ...STANDARD_HEADERS, ...refs(LIMIT_HEADERS) },
          content: jsonContent(z.union([modelListSchema, anthropicModelListSchema])),
        },
        ...errorResponses,
      },
    }),
  };
  return {
    openapi: '3.0.3',
    info: {
      title: 'keygate API',
      version: '1.0.0',
      description:
        'Call the agentic brain with an API key. Generated from the zod schemas by `npm run openapi`.',
    },
    components: {
      headers: { ...LIMIT_HEADERS, ...RETRY_AFTER, ...SHOULD_RETRY },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Authorization: Bearer kg_live_… (kg_test_… outside production)',
        },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
    security: [{ bearer: [] }, { apiKeyHeader: [] }],
    paths: Object.fromEntries(
      ROUTES.map((route) => [
        route.path,
        route.body ? { post: operations[route.body]() } : { get: readOperations[route.path]?.() },
      ]),
    ),
  };
}
