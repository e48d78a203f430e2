/**
 * POST /v1/chat/completions (SPEC §3b): OpenAI's chat-completions request, validated strictly
 * (`null` for an optional field is "absent", as OpenAI takes it), becomes the same brain request
 * as POST /api/v1/requests (`operation_type: "chat"`, OpenAI's other fields passed on in
 * `request_params`, ./openai-chat-schema.ts), and the brain's answer becomes a `chat.completion`.
 * Only the translation lives here: auth, limits, scopes, idempotency and the brain are the one
 * pipeline of ./process.ts.
 */
import { type ErrorDetail, HttpError } from '../../errors.js';
import { type ApiSuccess, decisionSchema, paymentSchema } from '../brain/contract.js';
import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import { chatStreamEncoder } from './chat-stream.js';
import {
  brainMessageOf,
  brainParamsOf,
  CHAT_PARAM_FIELDS,
  CHAT_ROLES,
  chatMessageSchema,
  checkToolChoice,
  nullish,
  type ToolCall,
  toolCallSchema,
  type WireChatParams,
  wireChatParamsShape,
} from './openai-chat-schema.js';
import { metadataSchema, PROVIDER_PATTERN, type RequestFields } from './schema.js';
import {
  firstProblemMessage,
  keygateHeaderDetails,
  refusedFieldDetails,
  type WireFormat,
} from './wire-format.js';

export { CHAT_COMPLETIONS_PATH } from './paths.js';

/** A bare model name is OpenAI's, as in OpenAI's own API; `provider/model` as OpenRouter writes it. */
export const DEFAULT_CHAT_PROVIDER = 'openai';
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

/**
 * OpenAI request fields keygate refuses, each with why: named in the 400, never silently
 * dropped. `null` is still "absent" for them, as for every optional field of this route.
 */
export const REFUSED_CHAT_FIELDS = {
  logprobs: 'is not supported by keygate; remove it',
  top_logprobs: 'is not supported by keygate; remove it',
  audio: 'is not supported by keygate (no audio output); remove it',
  modalities: 'is not supported by keygate (text output only); remove it',
  prediction: 'is not supported by keygate; remove it',
  functions: 'is OpenAI\'s deprecated form and not supported; send "tools" instead',
  function_call: 'is OpenAI\'s deprecated form and not supported; send "tool_choice" instead',
} as const;

export { CHAT_ROLES };

/** The refused fields' names. */
export const UNSUPPORTED_CHAT_FIELDS = Object.keys(
  REFUSED_CHAT_FIELDS,
) as (keyof typeof REFUSED_CHAT_FIELDS)[];

const maxTokens = () => z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER));

/**
 * `provider/model`, or a bare model of provider openai; each part as /api/v1/requests requires.
 * The model of both OpenAI wire formats (chat completions and Responses).
 */
export const openAiModelSchema = z.lazy(() =>
  z.string().check(
    z.minLength(1),
    ...maxStringLength(193),
    z.refine(
      (value) => !CONTROL_OR_FORMAT.test(value),
      'model must not contain control or format characters',
    ),
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
  ),
);

/** The refused fields: only their `null` ("absent") passes; any other value is named in the 400. */
const refusedShape = Object.fromEntries(
  UNSUPPORTED_CHAT_FIELDS.map((field) => [field, z.optional(z.null())]),
) as Record<keyof typeof REFUSED_CHAT_FIELDS, z.ZodMiniOptional<z.ZodMiniNull>>;

export const chatCompletionRequestSchema = z.lazy(() =>
  z
    .strictObject({
      model: openAiModelSchema,
      messages: z.array(chatMessageSchema).check(z.minLength(1), z.maxLength(256)),
      temperature: nullish(z.number().check(z.gte(0), z.lte(2))),
      top_p: nullish(z.number().check(z.gte(0), z.lte(1))),
      max_tokens: nullish(maxTokens()),
      max_completion_tokens: nullish(maxTokens()),
      user: nullish(z.string().check(z.minLength(1), ...maxStringLength(128))),
      metadata: nullish(metadataSchema),
      n: nullish(z.literal(1, 'only n: 1 is supported')),
      stream: nullish(z.boolean()),
      stream_options: nullish(z.strictObject({ include_usage: nullish(z.boolean()) })),
      ...wireChatParamsShape,
      ...refusedShape,
    })
    .check(
      z.superRefine((body, ctx) => {
        if (
          body.max_tokens != null &&
          body.max_completion_tokens != null &&
          body.max_tokens !== body.max_completion_tokens
        ) {
          ctx.addIssue({
            code: 'custom',
            path: ['max_completion_tokens'],
            message: 'max_tokens and max_completion_tokens differ; send one of them',
            input: body.max_completion_tokens,
          });
        }
        const choice = body.tool_choice;
        checkToolChoice(
          ctx,
          choice,
          (Array.isArray(body.tools) ? body.tools : []).map((tool) => tool?.function?.name),
          typeof choice === 'object' && choice !== null
            ? { name: choice.function?.name, path: ['function', 'name'] }
            : undefined,
        );
      }),
    ),
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

/** A valid body: the brain request's fields, the model as the caller wrote it, and how to answer. */
export interface ParsedChatCompletion {
  ok: true;
  request: RequestFields;
  model: string;
  /** `stream: true`: answer with server-sent `chat.completion.chunk` events. */
  stream: boolean;
  /** `stream_options.include_usage` of a streamed call: a last chunk with the usage. */
  includeUsage: boolean;
}

/**
 * Validates an OpenAI chat-completions body and its keygate headers; the fields of one brain
 * request, or the details of every problem (named as the caller wrote them).
 */
export function parseChatCompletion(
  body: unknown,
  headers: ChatHeaders,
): ParsedChatCompletion | { ok: false; details: ErrorDetail[] } {
  const details = refusedFieldDetails(body, UNSUPPORTED_CHAT_FIELDS, (field) => REFUSED_CHAT_FIELDS[field]);
  const unsupported = new Set(details.map((detail) => detail.path));
  const parsed = chatCompletionRequestSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const base = issue.path.map(String);
      // A refused field is already named above, whatever the schema says of it.
      if (base.length === 1 && unsupported.has(base[0] ?? '')) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          details.push({ path: [...base, key].join('.'), message: `unknown field "${key}"` });
        }
      } else {
        details.push({ path: base.join('.'), message: issue.message });
      }
    }
  }
  details.push(...keygateHeaderDetails(headers.projectId, headers.agentId));
  if (details.length > 0 || !parsed.success) return { ok: false, details };

  const chat = parsed.data;
  const { provider, model } = splitModel(chat.model);
  const maxTokensWanted = chat.max_completion_tokens ?? chat.max_tokens ?? undefined;
  const agentId = headers.agentId ?? chat.user ?? undefined;
  const passedOn = brainParamsOf(
    Object.fromEntries(CHAT_PARAM_FIELDS.map((field) => [field, chat[field]])) as WireChatParams,
  );
  const request: RequestFields = {
    provider,
    model,
    operation_type: 'chat',
    messages: chat.messages.map(brainMessageOf),
    ...(chat.temperature == null ? {} : { temperature: chat.temperature }),
    ...(chat.top_p == null ? {} : { top_p: chat.top_p }),
    ...(maxTokensWanted === undefined ? {} : { max_tokens: maxTokensWanted }),
    ...passedOn,
    ...(headers.projectId === undefined ? {} : { project_id: headers.projectId }),
    ...(agentId === undefined ? {} : { agent_id: agentId }),
    ...(chat.metadata == null ? {} : { metadata: chat.metadata }),
  };
  const stream = chat.stream === true;
  return {
    ok: true,
    request,
    model: chat.model,
    stream,
    includeUsage: stream && chat.stream_options?.include_usage === true,
  };
}

/** Scope refusals name the request's fields; on this route they are the model and a header. */
export function chatPathOf(path: string): string {
  if (path === 'provider' || path === 'model') return 'model';
  if (path === 'project_id') return 'Keygate-Project-Id';
  if (path === 'agent_id') return 'Keygate-Agent-Id';
  return path;
}

/** Token counts of a `chat.completion`. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const count = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;

/** The brain's own usage in OpenAI's words (`input_tokens`/`output_tokens` as the reference brain and Anthropic write them). */
export function chatUsageOf(response: unknown): ChatUsage {
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

/** The response's tool calls in OpenAI's form (arguments always a JSON string), or none. */
function toolCallsOf(response: unknown): ToolCall[] {
  if (!isRecord(response) || !Array.isArray(response.tool_calls)) return [];
  return response.tool_calls.flatMap((call, index): ToolCall[] => {
    const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
    if (!isRecord(call) || typeof fn?.name !== 'string') return [];
    const args = fn.arguments;
    return [
      {
        id: typeof call.id === 'string' && call.id.length > 0 ? call.id : `call_${index}`,
        type: 'function',
        function: {
          name: fn.name,
          arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
        },
      },
    ];
  });
}

/** The assistant message of a `chat.completion` (and of the chunks a stream assembles into). */
export interface ChatAssistantMessage {
  role: 'assistant';
  content: string | null;
  tool_calls?: ToolCall[];
}

/**
 * A brain's response (a plain answer's, a stored one, or one assembled from a stream's deltas
 * as `{content, tool_calls, finish_reason}`) as one choice's message and finish reason, so plain
 * and streamed answers agree: a response that calls tools → its calls, `content` its text or
 * null, `finish_reason` "tool_calls"; otherwise its text and the provider's reason or "stop".
 */
export function chatChoiceOf(response: unknown): { message: ChatAssistantMessage; finish_reason: string } {
  const providerReason =
    isRecord(response) && typeof response.finish_reason === 'string' ? response.finish_reason : undefined;
  const toolCalls = toolCallsOf(response);
  if (toolCalls.length > 0) {
    const text = isRecord(response) && typeof response.content === 'string' ? response.content : '';
    return {
      message: { role: 'assistant', content: text.length > 0 ? text : null, tool_calls: toolCalls },
      finish_reason: 'tool_calls',
    };
  }
  return {
    message: { role: 'assistant', content: contentOf(response) },
    finish_reason: providerReason ?? 'stop',
  };
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
      : [{ index: 0, ...chatChoiceOf(response) }];
  return {
    id: `chatcmpl-${answer.request_id}`,
    object: 'chat.completion',
    created,
    model,
    choices,
    usage: chatUsageOf(response),
    keygate: { request_id: answer.request_id, decision: answer.decision, payment: answer.payment },
  };
}

/** The 200 answer of POST /v1/chat/completions (OpenAPI is generated from it). */
export const chatCompletionSchema = z.lazy(() =>
  z.object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().check(z.int()),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().check(z.int()),
        message: z.object({
          role: z.literal('assistant'),
          content: z.nullable(z.string()),
          tool_calls: z.optional(z.array(toolCallSchema)),
        }),
        finish_reason: z.nullable(z.string()),
      }),
    ),
    usage: z.object({
      prompt_tokens: z.number().check(z.int()),
      completion_tokens: z.number().check(z.int()),
      total_tokens: z.number().check(z.int()),
    }),
    keygate: z.object({
      request_id: z.string(),
      decision: decisionSchema,
      payment: z.nullable(paymentSchema),
    }),
  }),
);

/** POST /v1/chat/completions as a wire format of the one pipeline (./process.ts). */
export const chatCompletionsFormat: WireFormat = {
  parse(body, headers) {
    const parsed = parseChatCompletion(body, {
      projectId: headers['keygate-project-id'],
      agentId: headers['keygate-agent-id'],
    });
    if (!parsed.ok)
      return { ok: false, details: parsed.details, message: firstProblemMessage(parsed.details) };
    const { request, model, stream, includeUsage } = parsed;
    return { ok: true, call: { request, model, stream, includeUsage } };
  },
  pathOf: chatPathOf,
  present: (answer, call, created) => toChatCompletion(answer, call.model, created),
  encoder: (call, requestId, created) =>
    chatStreamEncoder({
      id: `chatcmpl-${requestId}`,
      created,
      model: call.model,
      includeUsage: call.includeUsage === true,
    }),
};
