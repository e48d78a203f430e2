/**
 * POST /v1/chat/completions (SPEC §3b): OpenAI's chat-completions request, validated strictly,
 * becomes the same brain request as POST /api/v1/requests (`operation_type: "chat"`), and the
 * brain's answer becomes a `chat.completion`. Only the translation lives here: auth, limits,
 * scopes, idempotency and the brain are the one pipeline of ./process.ts.
 */
import { type ErrorDetail, HttpError } from '../../errors.js';
import { type ApiSuccess, decisionSchema, paymentSchema } from '../brain/contract.js';
import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import { metadataSchema, PROVIDER_PATTERN, type RequestFields } from './schema.js';

/** OpenAI's path, so OpenAI SDKs reach it with the base URL `https://<host>/v1`; the route table names it. */
export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';

/** A bare model name is OpenAI's, as in OpenAI's own API; `provider/model` as OpenRouter writes it. */
export const DEFAULT_CHAT_PROVIDER = 'openai';
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

/** OpenAI request fields keygate cannot honour yet: named in the 400, never silently dropped. */
export const UNSUPPORTED_CHAT_FIELDS = [
  'tools',
  'tool_choice',
  'functions',
  'function_call',
  'response_format',
  'logprobs',
  'top_logprobs',
  'audio',
  'modalities',
  'prediction',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
] as const;

export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

const textPartSchema = z.strictObject({ type: z.literal('text'), text: z.string() });

const chatMessageSchema = z.strictObject({
  role: z.enum(CHAT_ROLES),
  content: z.union([z.string(), z.array(textPartSchema).check(z.minLength(1))]),
  name: z.optional(z.string().check(z.minLength(1), ...maxStringLength(64))),
});

const maxTokens = () => z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER));

/** `provider/model`, or a bare model of provider openai; each part as /api/v1/requests requires. */
const modelSchema = z.string().check(
  z.minLength(1),
  ...maxStringLength(193),
  z.refine((value) => !CONTROL_OR_FORMAT.test(value), 'model must not contain control or format characters'),
  z.superRefine((value, ctx) => {
    // Its length is already refused above: one problem, one detail.
    if (value.length === 0 || value.length > 193) return;
    const { provider, model } = splitModel(value);
    if (!PROVIDER_PATTERN.test(provider)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${provider}" is not a provider: write "provider/model" with a lowercase provider such as "openai" or "anthropic", or a bare OpenAI model name`,
        input: value,
      });
    }
    if (model.length === 0 || model.length > 128) {
      ctx.addIssue({
        code: 'custom',
        message: 'the model name after the provider must be 1-128 characters',
        input: value,
      });
    }
  }),
);

export const chatCompletionRequestSchema = z
  .strictObject({
    model: modelSchema,
    messages: z.array(chatMessageSchema).check(z.minLength(1), z.maxLength(256)),
    temperature: z.optional(z.number().check(z.gte(0), z.lte(2))),
    top_p: z.optional(z.number().check(z.gte(0), z.lte(1))),
    max_tokens: z.optional(maxTokens()),
    max_completion_tokens: z.optional(maxTokens()),
    user: z.optional(z.string().check(z.minLength(1), ...maxStringLength(128))),
    metadata: z.optional(metadataSchema),
    n: z.optional(z.literal(1, 'only n: 1 is supported')),
    stream: z.optional(z.boolean()),
  })
  .check(
    z.superRefine((body, ctx) => {
      if (body.stream === true) {
        ctx.addIssue({
          code: 'custom',
          path: ['stream'],
          message: 'streaming is not supported yet; send stream: false or omit it',
          input: body.stream,
        });
      }
      if (
        body.max_tokens !== undefined &&
        body.max_completion_tokens !== undefined &&
        body.max_tokens !== body.max_completion_tokens
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['max_completion_tokens'],
          message: 'max_tokens and max_completion_tokens differ; send one of them',
          input: body.max_completion_tokens,
        });
      }
    }),
  );

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

export function splitModel(value: string): { provider: string; model: string } {
  const slash = value.indexOf('/');
  return slash < 0
    ? { provider: DEFAULT_CHAT_PROVIDER, model: value }
    : { provider: value.slice(0, slash), model: value.slice(slash + 1) };
}

/** Optional headers that carry what the OpenAI body has no field for. */
export interface ChatHeaders {
  /** `Keygate-Project-Id` */
  projectId?: string | undefined;
  /** `Keygate-Agent-Id` (wins over the body's `user`) */
  agentId?: string | undefined;
}

const headerSchema = z.optional(z.string().check(z.minLength(1), ...maxStringLength(128)));

/** The fields we cannot honour, each named, before the schema's own "unknown field". */
function unsupportedFields(body: unknown): ErrorDetail[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  return UNSUPPORTED_CHAT_FIELDS.filter((field) => Object.hasOwn(body, field)).map((field) => ({
    path: field,
    message: `"${field}" is not supported by keygate yet; remove it`,
  }));
}

/**
 * Validates an OpenAI chat-completions body and its keygate headers; the fields of one brain
 * request, or the details of every problem (named as the caller wrote them).
 */
export function parseChatCompletion(
  body: unknown,
  headers: ChatHeaders,
): { ok: true; request: RequestFields; model: string } | { ok: false; details: ErrorDetail[] } {
  const details = unsupportedFields(body);
  const unsupported = new Set(details.map((detail) => detail.path));
  const parsed = chatCompletionRequestSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const base = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          // Only a top-level field is one of OpenAI's we cannot honour (already named above).
          if (base.length > 0 || !unsupported.has(key)) {
            details.push({ path: [...base, key].join('.'), message: `unknown field "${key}"` });
          }
        }
      } else if (issue.input === null && base.length > 0) {
        details.push({ path: base.join('.'), message: 'null is not allowed; omit the field instead' });
      } else {
        details.push({ path: base.join('.'), message: issue.message });
      }
    }
  }
  for (const [name, value] of [
    ['Keygate-Project-Id', headers.projectId],
    ['Keygate-Agent-Id', headers.agentId],
  ] as const) {
    if (!headerSchema.safeParse(value).success) {
      details.push({ path: name, message: 'must be 1-128 characters' });
    }
  }
  if (details.length > 0 || !parsed.success) return { ok: false, details };

  const chat = parsed.data;
  const { provider, model } = splitModel(chat.model);
  const maxTokensWanted = chat.max_completion_tokens ?? chat.max_tokens;
  const agentId = headers.agentId ?? chat.user;
  const request: RequestFields = {
    provider,
    model,
    operation_type: 'chat',
    messages: chat.messages.map((message) => ({
      // OpenAI's `developer` role is the newer name of `system`.
      role: message.role === 'developer' ? 'system' : message.role,
      content:
        typeof message.content === 'string'
          ? message.content
          : message.content.map((part) => part.text).join('\n'),
      ...(message.name === undefined ? {} : { name: message.name }),
    })),
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
    ...(chat.top_p === undefined ? {} : { top_p: chat.top_p }),
    ...(maxTokensWanted === undefined ? {} : { max_tokens: maxTokensWanted }),
    ...(headers.projectId === undefined ? {} : { project_id: headers.projectId }),
    ...(agentId === undefined ? {} : { agent_id: agentId }),
    ...(chat.metadata === undefined ? {} : { metadata: chat.metadata }),
  };
  return { ok: true, request, model: chat.model };
}

/** Scope refusals name the request's fields; on this route they are the model and a header. */
export function chatPathOf(path: string): string {
  if (path === 'provider' || path === 'model') return 'model';
  if (path === 'project_id') return 'Keygate-Project-Id';
  if (path === 'agent_id') return 'Keygate-Agent-Id';
  return path;
}

interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const count = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;

/** The brain's own usage in OpenAI's words (`input_tokens`/`output_tokens` as the reference brain and Anthropic write them). */
function usageOf(response: unknown): ChatUsage {
  const usage = isRecord(response) && isRecord(response.usage) ? response.usage : {};
  const prompt = count(usage.prompt_tokens ?? usage.input_tokens);
  const completion = count(usage.completion_tokens ?? usage.output_tokens);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: count(usage.total_tokens) || prompt + completion,
  };
}

/** The assistant's text: the response's `content` (or `text`), itself if a string, else its JSON. */
function contentOf(response: unknown): string {
  if (typeof response === 'string') return response;
  if (isRecord(response)) {
    if (typeof response.content === 'string') return response.content;
    if (typeof response.text === 'string') return response.text;
  }
  return response === null || response === undefined ? '' : JSON.stringify(response);
}

/**
 * An approved decision as OpenAI's `chat.completion` (the brain's `choices`/`usage` passed on
 * when it already speaks OpenAI); any other decision is a 403 with the brain's message.
 */
export function toChatCompletion(
  answer: ApiSuccess,
  model: string,
  created: number,
): Record<string, unknown> {
  if (!answer.success || answer.decision.outcome !== 'approved') {
    throw new HttpError(
      'forbidden',
      answer.message || `The brain did not approve this request (${answer.decision.outcome}).`,
    );
  }
  const response = answer.response;
  const choices =
    isRecord(response) && Array.isArray(response.choices)
      ? response.choices
      : [{ index: 0, message: { role: 'assistant', content: contentOf(response) }, finish_reason: 'stop' }];
  return {
    id: `chatcmpl-${answer.request_id}`,
    object: 'chat.completion',
    created,
    model,
    choices,
    usage: usageOf(response),
    keygate: { request_id: answer.request_id, decision: answer.decision, payment: answer.payment },
  };
}

/** The 200 answer of POST /v1/chat/completions (OpenAPI is generated from it). */
export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().check(z.int()),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().check(z.int()),
      message: z.object({ role: z.literal('assistant'), content: z.nullable(z.string()) }),
      finish_reason: z.nullable(z.string()),
    }),
  ),
  usage: z.object({
    prompt_tokens: z.number().check(z.int()),
    completion_tokens: z.number().check(z.int()),
    total_tokens: z.number().check(z.int()),
  }),
  keygate: z.object({ request_id: z.string(), decision: decisionSchema, payment: z.nullable(paymentSchema) }),
});
