/** The public request body of POST /api/v1/requests (SPEC §3), strict everywhere. */

import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import type { AnthropicParams } from './anthropic-schema.js';
import type { BrainMessage, ChatParams } from './openai-chat-schema.js';

export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
export const METADATA_MAX_DEPTH = 4;
export const METADATA_MAX_BYTES = 8192;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

export const PROVIDER_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const OPERATION_TYPES = [
  'chat',
  'completion',
  'embedding',
  'image',
  'audio',
  'vision',
  'code',
] as const;
export const MESSAGE_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

export const messageSchema = z.lazy(() =>
  z.strictObject({
    role: z.enum(MESSAGE_ROLES),
    content: z.string(),
  }),
);

type MetadataProblem = { path: (string | number)[]; message: string };

/** Walks a parsed JSON value; reports forbidden keys and excess depth with their paths. */
function metadataProblems(value: unknown, path: (string | number)[], depth: number): MetadataProblem[] {
  if (value === null || typeof value !== 'object') return [];
  if (depth > METADATA_MAX_DEPTH) {
    return [{ path, message: `metadata nests deeper than ${METADATA_MAX_DEPTH} levels` }];
  }
  const problems: MetadataProblem[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (!Array.isArray(value) && FORBIDDEN_KEYS.has(key)) {
      problems.push({ path: [...path, key], message: `key "${key}" is not allowed` });
      continue;
    }
    problems.push(...metadataProblems(child, [...path, Array.isArray(value) ? Number(key) : key], depth + 1));
  }
  return problems;
}

/**
 * Checked on the raw parsed JSON, before zod copies it: zod's record and json schemas
 * assign each key to a fresh object, where a `__proto__` key would silently vanish (it
 * sets the copy's prototype) instead of being rejected.
 */
export const metadataSchema = z.lazy(() =>
  z.pipe(
    // zod/mini has no `z.preprocess`; classic's is this same pipe of a transform into the schema.
    // Any issue pushed here stops the pipe, as `ctx.addIssue` in a classic preprocess does.
    z.transform((value: unknown, payload) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      for (const problem of metadataProblems(value, [], 1)) {
        payload.issues.push({ code: 'custom', path: problem.path, message: problem.message, input: value });
      }
      if (Buffer.byteLength(JSON.stringify(value), 'utf8') > METADATA_MAX_BYTES) {
        payload.issues.push({
          code: 'custom',
          message: `metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
          input: value,
        });
      }
      return value;
    }),
    z.record(z.string(), z.json()),
  ),
);

const boundedId = z.lazy(() => z.string().check(z.minLength(1), ...maxStringLength(128)));

export const apiRequestSchema = z.lazy(() =>
  z
    .strictObject({
      provider: z
        .string()
        .check(
          z.regex(
            PROVIDER_PATTERN,
            'provider must be a lowercase slug such as "openai", "anthropic" or "ollama"',
          ),
        ),
      model: z.string().check(
        z.minLength(1),
        ...maxStringLength(128),
        z.refine(
          (model) => !CONTROL_OR_FORMAT.test(model),
          'model must not contain control or format characters',
        ),
      ),
      operation_type: z.enum(OPERATION_TYPES),
      messages: z.optional(z.array(messageSchema).check(z.minLength(1), z.maxLength(256))),
      prompt: z.optional(z.string().check(z.minLength(1), ...maxStringLength(100_000))),
      temperature: z.optional(z.number().check(z.gte(0), z.lte(2))),
      max_tokens: z.optional(z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER))),
      top_p: z.optional(z.number().check(z.gte(0), z.lte(1))),
      project_id: z.optional(boundedId),
      agent_id: z.optional(boundedId),
      metadata: z.optional(metadataSchema),
    })
    .check(
      z.superRefine((body, ctx) => {
        if (body.messages === undefined && body.prompt === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['messages'],
            message: 'one of "messages" or "prompt" is required',
          });
        }
      }),
    ),
);

export type ApiRequest = z.infer<typeof apiRequestSchema>;

/**
 * The fields of one brain request, whichever route they came from: a valid /api/v1/requests
 * body, or an OpenAI chat-completions body translated (whose messages may carry a `name`,
 * tool calls and image parts, and which may carry OpenAI's other fields, `ChatParams`). The
 * Idempotency-Key's fingerprint is built from these, so every field here is fingerprinted.
 */
export interface RequestFields extends Omit<ApiRequest, 'messages'>, ChatParams {
  messages?: BrainMessage[];
  /**
   * A route that passes its own wire format on (POST /v1/messages) gives the brain's
   * `request_params` itself; being a field, the idempotency fingerprint covers it.
   */
  native_params?: AnthropicParams;
}
