/**
 * The body of POST /v1/responses (SPEC §3e): OpenAI's Responses API request as the `openai`
 * SDK (`client.responses.create` / `stream`) and the OpenAI Agents SDK send it, validated
 * strictly — unknown fields and what keygate cannot honour (conversation state, built-in
 * tools, stored prompts, files) are named in the 400 — with `null` for an optional field
 * meaning absent, as on the chat route. Tools, tool choices and text formats are checked by the
 * brain's own schemas (./openai-chat-schema.ts) once in chat form, so both routes accept the
 * same functions and JSON Schemas.
 */
import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import { openAiModelSchema } from './chat-completions.js';
import {
  checkToolChoice,
  type FunctionTool,
  functionToolSchema,
  IMAGE_DETAILS,
  MAX_TOOLS,
  nullish,
  REASONING_EFFORTS,
  type ResponseFormat,
  responseFormatSchema,
  SERVICE_TIERS,
  STORE_REFUSAL,
  withoutNulls,
} from './openai-chat-schema.js';
import { metadataSchema } from './schema.js';

const NO_STATE = 'keygate keeps no conversation state: send the whole input instead';
const NO_TOOLS = 'keygate runs no tools: send "function" tools and run them yourself';
const REMOVE_IT = 'is not supported by keygate; remove it';

/**
 * Responses fields keygate refuses, each with why: only their `null` ("absent") passes; any
 * other value is named in the 400 (before the schema's own issues), never silently dropped.
 */
export const REFUSED_RESPONSES_FIELDS = {
  previous_response_id: NO_STATE,
  conversation: NO_STATE,
  prompt: 'stored prompt templates are not supported: send "instructions" and "input" instead',
  top_logprobs: REMOVE_IT,
  prompt_cache_retention: REMOVE_IT,
  prompt_cache_options: REMOVE_IT,
  context_management: REMOVE_IT,
  moderation: REMOVE_IT,
} as const;
export const UNSUPPORTED_RESPONSES_FIELDS = Object.keys(
  REFUSED_RESPONSES_FIELDS,
) as (keyof typeof REFUSED_RESPONSES_FIELDS)[];

/** Input item types OpenAI knows and keygate refuses, each with why. */
const REFUSED_ITEM_TYPES: Readonly<Record<string, string>> = {
  item_reference: NO_STATE,
  compaction: NO_STATE,
};
/** Content part types OpenAI knows and keygate refuses. */
const REFUSED_PART_TYPES: Readonly<Record<string, string>> = {
  input_file: 'keygate takes no files: send the text as "input_text"',
  input_audio: 'keygate takes no audio input',
};

/** A data: URL of an image within the 1 MiB body. */
const MAX_IMAGE_URL_LENGTH = 1024 * 1024;
const nonEmpty = (maximum: number) => z.string().check(z.minLength(1), ...maxStringLength(maximum));
const ITEM_STATUSES = ['in_progress', 'completed', 'incomplete'] as const;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A union on `type` whose unknown and refused types get one issue naming them (zod's own says
 * only "Invalid input"); `fallback` is the type of a record without one (a message item).
 */
function byType<T extends z.core.$ZodType>(
  union: T,
  known: readonly string[],
  refusal: (type: string) => string,
  fallback?: string,
) {
  return z.pipe(
    z.transform((value: unknown, payload) => {
      if (!isRecord(value)) return value;
      if (value.type === undefined && fallback !== undefined) return { type: fallback, ...value };
      const type = value.type;
      if (typeof type === 'string' && !known.includes(type)) {
        payload.issues.push({ code: 'custom', path: ['type'], message: refusal(type), input: value });
      }
      return value;
    }),
    union,
  );
}

/** The refusal of a type not in `known`: its reason from `refused`, else what is taken instead. */
const refusalOf =
  (what: string, known: readonly string[], refused: Readonly<Record<string, string>>) => (type: string) =>
    `${what} type "${type}" is not supported: ${refused[type] ?? `keygate takes only ${known.map((name) => `"${name}"`).join(', ')}`}`;

/**
 * A string, or what `array` takes: its own issues, named at their items (a union would report
 * only that neither form fits); anything else is `message`.
 */
function stringOr<T extends z.core.$ZodType>(array: T, message: string) {
  return z.transform((value: unknown, payload): string | z.output<T> => {
    if (typeof value === 'string') return value;
    if (!Array.isArray(value)) {
      payload.issues.push({ code: 'custom', message, input: value });
      return '';
    }
    const parsed = z.safeParse(array, value, { reportInput: true });
    if (parsed.success) return parsed.data;
    payload.issues.push(...(parsed.error.issues as z.core.$ZodRawIssue[]));
    return '';
  });
}

// ---------------------------------------------------------------------------------------------
// Input items.

const inputTextSchema = () => z.strictObject({ type: z.literal('input_text'), text: z.string() });
const outputTextSchema = () =>
  z.strictObject({
    type: z.literal('output_text'),
    text: z.string(),
    annotations: nullish(z.array(z.unknown())),
    logprobs: nullish(z.array(z.unknown())),
  });
const refusalSchema = () => z.strictObject({ type: z.literal('refusal'), refusal: z.string() });
const inputImageSchema = () =>
  z
    .strictObject({
      type: z.literal('input_image'),
      image_url: nullish(nonEmpty(MAX_IMAGE_URL_LENGTH)),
      file_id: nullish(z.string()),
      detail: nullish(z.enum(IMAGE_DETAILS)),
    })
    .check(
      z.superRefine((part, ctx) => {
        if (part.file_id != null) {
          ctx.addIssue({
            code: 'custom',
            path: ['file_id'],
            message: 'keygate takes no files: send the image as "image_url" (an https or data: URL)',
            input: part,
          });
        } else if (part.image_url == null) {
          ctx.addIssue({
            code: 'custom',
            path: ['image_url'],
            message: 'required: the image as an https or data: URL',
            input: part,
          });
        }
      }),
    );
const PART_TYPES = ['input_text', 'input_image', 'output_text', 'refusal'] as const;
const messagePartSchema = () =>
  byType(
    z.discriminatedUnion('type', [
      inputTextSchema(),
      inputImageSchema(),
      outputTextSchema(),
      refusalSchema(),
    ]),
    PART_TYPES,
    refusalOf('content part', PART_TYPES, REFUSED_PART_TYPES),
  );
export type ResponsesMessagePart = z.infer<ReturnType<typeof messagePartSchema>>;

export const RESPONSES_ROLES = ['user', 'system', 'developer', 'assistant'] as const;

const messageItemSchema = () =>
  z
    .strictObject({
      type: z.literal('message'),
      role: z.enum(RESPONSES_ROLES),
      content: stringOr(
        z.array(messagePartSchema()).check(z.minLength(1)),
        'content must be a string or a non-empty array of content parts',
      ),
      // What an output message item carries when the history sends it back.
      id: nullish(z.string()),
      status: nullish(z.enum(ITEM_STATUSES)),
      phase: nullish(z.enum(['commentary', 'final_answer'])),
    })
    .check(
      z.superRefine((message, ctx) => {
        if (!Array.isArray(message.content)) return;
        for (const [index, part] of message.content.entries()) {
          if (part?.type === 'input_image' && message.role !== 'user') {
            ctx.addIssue({
              code: 'custom',
              path: ['content', index],
              message: 'input_image parts are only allowed in user messages',
              input: part,
            });
          } else if (
            (part?.type === 'output_text' || part?.type === 'refusal') &&
            message.role !== 'assistant'
          ) {
            ctx.addIssue({
              code: 'custom',
              path: ['content', index],
              message: `${part.type} parts are only allowed in assistant messages`,
              input: part,
            });
          }
        }
      }),
    );

const callIdSchema = () => nonEmpty(256);

const functionCallItemSchema = () =>
  z.strictObject({
    type: z.literal('function_call'),
    call_id: callIdSchema(),
    name: nonEmpty(128),
    arguments: z.string(),
    id: nullish(z.string()),
    status: nullish(z.enum(ITEM_STATUSES)),
  });

const OUTPUT_PART_TYPES = ['input_text'] as const;
const functionCallOutputItemSchema = () =>
  z.strictObject({
    type: z.literal('function_call_output'),
    call_id: callIdSchema(),
    output: stringOr(
      z
        .array(
          byType(
            inputTextSchema(),
            OUTPUT_PART_TYPES,
            refusalOf('function_call_output part', OUTPUT_PART_TYPES, REFUSED_PART_TYPES),
          ),
        )
        .check(z.minLength(1)),
      'output must be a string or a non-empty array of input_text parts',
    ),
    id: nullish(z.string()),
    status: nullish(z.enum(ITEM_STATUSES)),
  });

/**
 * A reasoning item an agent sends back with its history. keygate drops it: it is the model's
 * own hidden state, which no brain request carries (chat completions have no such message),
 * and keygate never answers one, so nothing the caller sees of the conversation is lost.
 */
const reasoningItemSchema = () => z.looseObject({ type: z.literal('reasoning') });

const ITEM_TYPES = ['message', 'function_call', 'function_call_output', 'reasoning'] as const;
const inputItemSchema = () =>
  byType(
    z.discriminatedUnion('type', [
      messageItemSchema(),
      functionCallItemSchema(),
      functionCallOutputItemSchema(),
      reasoningItemSchema(),
    ]),
    ITEM_TYPES,
    refusalOf('input item', ITEM_TYPES, REFUSED_ITEM_TYPES),
    'message',
  );
export type ResponsesInputItem = z.infer<ReturnType<typeof inputItemSchema>>;

/** Input items at most: the brain request holds at most 256 messages (one more for instructions). */
export const MAX_INPUT_ITEMS = 512;

// ---------------------------------------------------------------------------------------------
// Tools, tool choice, text format: each checked in chat form by the brain's own schema.

/**
 * A value in chat form, checked by the brain's own `schema`: its issues are named at the
 * Responses field they came from (`toWirePath`), and the value is the brain's form.
 */
function checkedInChatForm<T>(
  schema: {
    safeParse(value: unknown): { success: true; data: T } | { success: false; error: z.core.$ZodError };
  },
  chatForm: unknown,
  payload: z.core.ParsePayload,
  toWirePath: (path: PropertyKey[]) => PropertyKey[],
): T {
  const parsed = schema.safeParse(chatForm);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    payload.issues.push({
      code: 'custom',
      path: toWirePath(issue.path),
      message: issue.message,
      input: chatForm,
    });
  }
  return chatForm as T;
}

/** `function.x…` of a chat tool (or `json_schema.x…` of a response format) is `x…` here. */
const unnested = (path: PropertyKey[]) => (path.length > 1 ? path.slice(1) : path);

const functionToolWireSchema = () =>
  z.pipe(
    z.strictObject({
      type: z.literal('function'),
      name: z.string(),
      description: nullish(z.string()),
      parameters: nullish(z.unknown()),
      strict: nullish(z.boolean()),
    }),
    z.transform(({ type, ...fn }, payload) =>
      checkedInChatForm<FunctionTool>(
        functionToolSchema,
        { type, function: withoutNulls(fn) },
        payload,
        unnested,
      ),
    ),
  );

const TOOL_TYPES = ['function'] as const;
const toolsSchema = () =>
  z.array(
    byType(
      functionToolWireSchema(),
      TOOL_TYPES,
      (type) => `built-in tool "${type}" is not supported: ${NO_TOOLS}`,
    ),
  );

const toolChoiceWireSchema = () =>
  z.union(
    [
      z.enum(['none', 'auto', 'required']),
      z.strictObject({ type: z.literal('function'), name: nonEmpty(64) }),
    ],
    `tool_choice must be "none", "auto", "required" or {"type": "function", "name"}: ${NO_TOOLS}`,
  );

const textFormatSchema = () =>
  z.pipe(
    z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        name: z.string(),
        schema: nullish(z.unknown()),
        description: nullish(z.string()),
        strict: nullish(z.boolean()),
      }),
    ]),
    z.transform((format, payload) => {
      if (format.type !== 'json_schema') return format;
      const { type, ...jsonSchema } = format;
      return checkedInChatForm<ResponseFormat>(
        responseFormatSchema,
        { type, json_schema: withoutNulls(jsonSchema) },
        payload,
        unnested,
      );
    }),
  );

const textSchema = () =>
  z.strictObject({
    format: nullish(textFormatSchema()),
    // OpenAI's verbosity has no field in the brain request: refused rather than dropped.
    verbosity: z.optional(z.null()),
  });

const reasoningSchema = () =>
  z.strictObject({
    effort: nullish(z.enum(REASONING_EFFORTS)),
    // A request for reasoning summaries: keygate answers none, which OpenAI also may.
    summary: nullish(z.enum(['auto', 'concise', 'detailed'])),
    generate_summary: nullish(z.enum(['auto', 'concise', 'detailed'])),
  });

/** The refused fields: only their `null` passes; any other value is named in the 400. */
const refusedShape = Object.fromEntries(
  UNSUPPORTED_RESPONSES_FIELDS.map((field) => [field, z.optional(z.null())]),
) as Record<keyof typeof REFUSED_RESPONSES_FIELDS, z.ZodMiniOptional<z.ZodMiniNull>>;

const maxOutputTokens = () => z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER));

export const responsesRequestSchema = z.lazy(() =>
  z
    .strictObject({
      model: openAiModelSchema,
      input: stringOr(
        z.array(inputItemSchema()).check(z.minLength(1), z.maxLength(MAX_INPUT_ITEMS)),
        'input must be a string or a non-empty array of input items',
      ),
      instructions: nullish(z.string()),
      tools: nullish(toolsSchema().check(z.maxLength(MAX_TOOLS))),
      tool_choice: nullish(toolChoiceWireSchema()),
      parallel_tool_calls: nullish(z.boolean()),
      temperature: nullish(z.number().check(z.gte(0), z.lte(2))),
      top_p: nullish(z.number().check(z.gte(0), z.lte(1))),
      max_output_tokens: nullish(maxOutputTokens()),
      text: nullish(textSchema()),
      reasoning: nullish(reasoningSchema()),
      metadata: nullish(metadataSchema),
      user: nullish(nonEmpty(128)),
      store: nullish(z.literal(false, STORE_REFUSAL)),
      stream: nullish(z.boolean()),
      // `include_obfuscation` pads events against side channels; keygate's events carry none.
      stream_options: nullish(z.strictObject({ include_obfuscation: nullish(z.boolean()) })),
      include: nullish(
        z
          .array(z.string())
          .check(z.maxLength(0, 'keygate returns no extra output: send "include": [] or omit it')),
      ),
      service_tier: nullish(z.enum(SERVICE_TIERS)),
      prompt_cache_key: nullish(nonEmpty(1024)),
      safety_identifier: nullish(nonEmpty(128)),
      truncation: nullish(
        z.literal('disabled', 'only "disabled": keygate never truncates the input, send what fits'),
      ),
      background: nullish(
        z.literal(false, 'keygate answers in the request: background responses are not supported'),
      ),
      ...refusedShape,
    })
    .check(
      z.superRefine((body, ctx) => {
        const choice = body.tool_choice;
        checkToolChoice(
          ctx,
          choice,
          (Array.isArray(body.tools) ? body.tools : []).map((tool) => tool?.function?.name),
          typeof choice === 'object' && choice !== null ? { name: choice.name, path: ['name'] } : undefined,
        );
      }),
    ),
);

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
