/**
 * JSON Schema and OpenAPI 3 for POST /api/v1/requests, generated from the zod schemas
 * (never hand-copied). `npm run openapi` writes docs/openapi.json; a test keeps it current;
 * the stack uses `requestBodyJsonSchema('draft-4')` as the API Gateway model.
 */
import * as z from 'zod';
import { apiSuccessSchema } from '../shared/domain/brain/contract.js';
import { apiRequestSchema } from '../shared/domain/requests/schema.js';
import { ERROR_CODES, statusOf } from '../shared/errors.js';
import { ROUTES } from './routes.js';

export function requestBodyJsonSchema(
  target: 'draft-4' | 'openapi-3.0' = 'draft-4',
): Record<string, unknown> {
  return z.toJSONSchema(apiRequestSchema, { target, io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

const errorEnvelopeSchema = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
  request_id: z.string(),
});

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

export function buildOpenApiDocument(): Record<string, unknown> {
  const errorStatuses = [...new Set(ERROR_CODES.map(statusOf))].sort();
  const errorResponses = Object.fromEntries(
    errorStatuses.map((status) => [
      String(status),
      {
        description: `Error: ${ERROR_CODES.filter((code) => statusOf(code) === status).join(', ')}`,
        headers: STANDARD_HEADERS,
        content: jsonContent(errorEnvelopeSchema),
      },
    ]),
  );
  const [route] = ROUTES;
  return {
    openapi: '3.0.3',
    info: {
      title: 'keygate API',
      version: '1.0.0',
      description:
        'Call the agentic brain with an API key. Generated from the zod schemas by `npm run openapi`.',
    },
    components: {
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
    paths: {
      [route?.path ?? '/api/v1/requests']: {
        post: {
          operationId: 'createRequest',
          summary: 'Ask the brain to approve, pay for and run an AI API call',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description: 'Repeat-safe retries: the same key and body within 24 h returns the first answer.',
              schema: { type: 'string', minLength: 1, maxLength: 255 },
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: requestBodyJsonSchema('openapi-3.0') } },
          },
          responses: {
            '200': {
              description:
                'The brain decided (approved, rejected, escalated, …); success is true only when approved.',
              headers: STANDARD_HEADERS,
              content: jsonContent(apiSuccessSchema),
            },
            ...errorResponses,
          },
        },
      },
    },
  };
}
