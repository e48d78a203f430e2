/**
 * The answers of the Anthropic and Responses routes as zod schemas, for the OpenAPI document
 * (infra/openapi.ts) — what the wire formats write (./anthropic-messages.ts,
 * ./openai-responses.ts), described once. Built lazily: no function builds them at init.
 */
import { decisionSchema, paymentSchema } from '../brain/contract.js';
import * as z from '../zod.js';

const keygateExtra = () =>
  z.object({ request_id: z.string(), decision: decisionSchema, payment: z.nullable(paymentSchema) });

/** POST /v1/messages, approved: an Anthropic `message` (SPEC §3d). */
export const anthropicMessageAnswerSchema = z.lazy(() =>
  z.object({
    id: z.string(),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string(),
    content: z.array(
      z.union([
        z.object({ type: z.literal('text'), text: z.string() }),
        z.object({
          type: z.literal('tool_use'),
          id: z.string(),
          name: z.string(),
          input: z.record(z.string(), z.unknown()),
        }),
      ]),
    ),
    stop_reason: z.enum(['end_turn', 'tool_use', 'max_tokens', 'stop_sequence']),
    stop_sequence: z.nullable(z.string()),
    usage: z.object({ input_tokens: z.number().check(z.int()), output_tokens: z.number().check(z.int()) }),
    keygate: keygateExtra(),
  }),
);

/** POST /v1/messages/count_tokens (SPEC §3d). */
export const anthropicTokenCountSchema = z.lazy(() =>
  z.object({ input_tokens: z.number().check(z.int(), z.gte(0)) }),
);

/** Every error on the Anthropic routes: Anthropic's shape, keygate's request id (SPEC §3d). */
export const anthropicErrorSchema = z.lazy(() =>
  z.object({
    type: z.literal('error'),
    error: z.object({
      type: z.enum([
        'invalid_request_error',
        'authentication_error',
        'permission_error',
        'not_found_error',
        'request_too_large',
        'rate_limit_error',
        'api_error',
        'overloaded_error',
      ]),
      message: z.string(),
    }),
    request_id: z.string(),
  }),
);

/** POST /v1/responses, approved: an OpenAI `response` (SPEC §3e). */
export const responseAnswerSchema = z.lazy(() =>
  z.object({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number().check(z.int()),
    status: z.enum(['completed', 'incomplete']),
    model: z.string(),
    output: z.array(
      z.union([
        z.object({
          type: z.literal('message'),
          id: z.string(),
          status: z.string(),
          role: z.literal('assistant'),
          content: z.array(
            z.object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()) }),
          ),
        }),
        z.object({
          type: z.literal('function_call'),
          id: z.string(),
          call_id: z.string(),
          name: z.string(),
          arguments: z.string(),
          status: z.string(),
        }),
      ]),
    ),
    usage: z.object({
      input_tokens: z.number().check(z.int()),
      output_tokens: z.number().check(z.int()),
      total_tokens: z.number().check(z.int()),
    }),
    keygate: keygateExtra(),
  }),
);
