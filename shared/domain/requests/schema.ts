/** The public request body of POST /api/v1/requests (SPEC §3), strict everywhere. */
import * as z from 'zod';

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

export const messageSchema = z.strictObject({
  role: z.enum(MESSAGE_ROLES),
  content: z.string(),
});

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
export const metadataSchema = z.preprocess(
  (value, ctx) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    for (const problem of metadataProblems(value, [], 1)) {
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: value });
    }
    if (Buffer.byteLength(JSON.stringify(value), 'utf8') > METADATA_MAX_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
        input: value,
      });
    }
    return value;
  },
  z.record(z.string(), z.json()),
);

const boundedId = z.string().min(1).max(128);

export const apiRequestSchema = z
  .strictObject({
    provider: z
      .string()
      .regex(PROVIDER_PATTERN, 'provider must be a lowercase slug such as "openai", "anthropic" or "ollama"'),
    model: z
      .string()
      .min(1)
      .max(128)
      .refine(
        (model) => !CONTROL_OR_FORMAT.test(model),
        'model must not contain control or format characters',
      ),
    operation_type: z.enum(OPERATION_TYPES),
    messages: z.array(messageSchema).min(1).max(256).optional(),
    prompt: z.string().min(1).max(100_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    top_p: z.number().min(0).max(1).optional(),
    project_id: boundedId.optional(),
    agent_id: boundedId.optional(),
    metadata: metadataSchema.optional(),
  })
  .superRefine((body, ctx) => {
    if (body.messages === undefined && body.prompt === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['messages'],
        message: 'one of "messages" or "prompt" is required',
      });
    }
  });

export type ApiRequest = z.infer<typeof apiRequestSchema>;
