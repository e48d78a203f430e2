/**
 * OpenAI's chat-completions fields that keygate passes on to the brain (SPEC §3b, §4 v3), in
 * two forms: the brain's (strict, what `request_params` carries under OpenAI's names) and
 * the wire's (the same fields as an OpenAI SDK sends them, where `null` for an optional field
 * means absent). POST /v1/chat/completions parses the wire form and hands the brain form on
 * (`brainParamsOf`, `brainMessageOf`); the brain contract is built from the brain form.
 */
import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import { MESSAGE_ROLES } from './schema.js';

const nonEmpty = () => z.string().check(z.minLength(1));
/** OpenAI's rule for function and response-format names. */
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const functionName = () =>
  z.string().check(z.regex(FUNCTION_NAME, 'must be 1-64 letters, digits, underscores or dashes'));

export const MAX_TOOLS = 128;
export const MAX_STOP_SEQUENCES = 4;
export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;
export const SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority'] as const;
export const IMAGE_DETAILS = ['auto', 'low', 'high'] as const;

/** The paths of `__proto__` keys at any depth: a copy made by zod would silently lose them. */
function protoKeyPaths(value: unknown, path: (string | number)[]): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const found: (string | number)[][] = [];
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, Array.isArray(value) ? Number(key) : key];
    if (!Array.isArray(value) && key === '__proto__') found.push(childPath);
    else found.push(...protoKeyPaths(child, childPath));
  }
  return found;
}

/**
 * A JSON object (a JSON Schema of a tool's parameters or of a response format), checked on the
 * raw value before zod copies it, as metadata is (./schema.ts).
 */
const jsonObjectSchema = () =>
  z.pipe(
    z.transform((value: unknown, payload) => {
      for (const path of protoKeyPaths(value, [])) {
        payload.issues.push({
          code: 'custom',
          path,
          message: 'key "__proto__" is not allowed',
          input: value,
        });
      }
      return value;
    }),
    z.record(z.string(), z.json()),
  );

/** OpenAI requires a tool's parameters to describe an object (its arguments are a JSON object). */
const parametersSchema = () =>
  jsonObjectSchema().check(
    z.refine((schema) => schema.type === undefined || schema.type === 'object', {
      message: 'a function\'s parameters must be a JSON Schema of type "object"',
      path: ['type'],
    }),
  );

// ---------------------------------------------------------------------------------------------
// The brain's form: strict, no nulls.

/** A call of a function, as an assistant message carries it and a brain answer's `response` holds it. */
export const toolCallSchema = z.lazy(() =>
  z.strictObject({
    id: nonEmpty(),
    type: z.literal('function'),
    function: z.strictObject({ name: nonEmpty(), arguments: z.string() }),
  }),
);
export type ToolCall = z.infer<typeof toolCallSchema>;

export const textPartSchema = z.lazy(() => z.strictObject({ type: z.literal('text'), text: z.string() }));
export const imagePartSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('image_url'),
    image_url: z.strictObject({ url: nonEmpty(), detail: z.optional(z.enum(IMAGE_DETAILS)) }),
  }),
);
export const contentPartSchema = z.lazy(() =>
  z.discriminatedUnion('type', [textPartSchema, imagePartSchema]),
);
export type ContentPart = z.infer<typeof contentPartSchema>;

/**
 * One message as the brain gets it: `content` is always the text (text parts joined with a
 * newline, `''` for an assistant message that only calls tools), so every brain can read
 * it; `content_parts` are the caller's parts in order, present only when they hold an image.
 */
export const brainMessageSchema = z.lazy(() =>
  z.strictObject({
    role: z.enum(MESSAGE_ROLES),
    content: z.string(),
    // The participant's name an OpenAI chat-completions message may carry.
    name: z.optional(z.string()),
    tool_calls: z.optional(z.array(toolCallSchema).check(z.minLength(1))),
    tool_call_id: z.optional(nonEmpty()),
    content_parts: z.optional(z.array(contentPartSchema).check(z.minLength(1))),
  }),
);
export type BrainMessage = z.infer<typeof brainMessageSchema>;

export const functionToolSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('function'),
    function: z.strictObject({
      name: functionName(),
      description: z.optional(z.string()),
      parameters: z.optional(parametersSchema()),
      strict: z.optional(z.boolean()),
    }),
  }),
);
export type FunctionTool = z.infer<typeof functionToolSchema>;

export const toolChoiceSchema = z.lazy(() =>
  z.union([
    z.enum(['none', 'auto', 'required']),
    z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: functionName() }) }),
  ]),
);
export type ToolChoice = z.infer<typeof toolChoiceSchema>;

export const responseFormatSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({
      type: z.literal('json_schema'),
      json_schema: z.strictObject({
        name: functionName(),
        description: z.optional(z.string()),
        schema: z.optional(jsonObjectSchema()),
        strict: z.optional(z.boolean()),
      }),
    }),
  ]),
);
export type ResponseFormat = z.infer<typeof responseFormatSchema>;

const stopSchema = () =>
  z.union([z.string(), z.array(z.string()).check(z.minLength(1), z.maxLength(MAX_STOP_SEQUENCES))]);
const penalty = () => z.number().check(z.gte(-2), z.lte(2));
const logitBiasSchema = () =>
  z.record(
    z.string().check(z.regex(/^\d{1,10}$/, 'logit_bias keys are token ids')),
    z.number().check(z.gte(-100), z.lte(100)),
  );
const seedSchema = () =>
  z.number().check(z.int(), z.gte(Number.MIN_SAFE_INTEGER), z.lte(Number.MAX_SAFE_INTEGER));
const promptCacheKey = () => z.string().check(z.minLength(1), ...maxStringLength(1024));
const safetyIdentifier = () => z.string().check(z.minLength(1), ...maxStringLength(128));
const toolsSchema = () => z.array(functionToolSchema).check(z.minLength(1), z.maxLength(MAX_TOOLS));

/** The OpenAI fields `request_params` carries beside messages, prompt, temperature, max_tokens and top_p. */
export const chatParamsShape = {
  stop: z.optional(z.lazy(stopSchema)),
  seed: z.optional(z.lazy(seedSchema)),
  presence_penalty: z.optional(z.lazy(penalty)),
  frequency_penalty: z.optional(z.lazy(penalty)),
  logit_bias: z.optional(z.lazy(logitBiasSchema)),
  tools: z.optional(z.lazy(toolsSchema)),
  tool_choice: z.optional(toolChoiceSchema),
  parallel_tool_calls: z.optional(z.boolean()),
  response_format: z.optional(responseFormatSchema),
  reasoning_effort: z.optional(z.enum(REASONING_EFFORTS)),
  service_tier: z.optional(z.enum(SERVICE_TIERS)),
  store: z.optional(z.literal(false)),
  prompt_cache_key: z.optional(z.lazy(promptCacheKey)),
  safety_identifier: z.optional(z.lazy(safetyIdentifier)),
};

const chatParamsSchema = z.lazy(() => z.strictObject(chatParamsShape));
export type ChatParams = z.infer<typeof chatParamsSchema>;
export const CHAT_PARAM_FIELDS = Object.keys(chatParamsShape) as (keyof ChatParams)[];

// ---------------------------------------------------------------------------------------------
// The wire's form: what an OpenAI SDK sends, `null` for an optional field meaning absent.

/** An optional field of the wire form: `null` (as OpenAI SDKs send it) means absent. */
export const nullish = <T extends z.core.SomeType>(schema: T) => z.optional(z.nullable(schema));

/** The object without its `null` fields (the wire's "absent"), nor any left undefined. */
export function withoutNulls<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(
    Object.entries(value).filter(([, field]) => field !== null && field !== undefined),
  ) as {
    [K in keyof T]: Exclude<T[K], null>;
  };
}

const wireImagePartSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('image_url'),
    image_url: z.strictObject({ url: nonEmpty(), detail: nullish(z.enum(IMAGE_DETAILS)) }),
  }),
);
export const wirePartSchema = z.lazy(() =>
  z.discriminatedUnion('type', [textPartSchema, wireImagePartSchema]),
);
export type WirePart = z.infer<typeof wirePartSchema>;

const wireToolSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('function'),
    function: z.strictObject({
      name: functionName(),
      description: nullish(z.string()),
      parameters: nullish(parametersSchema()),
      strict: nullish(z.boolean()),
    }),
  }),
);

const wireResponseFormatSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({
      type: z.literal('json_schema'),
      json_schema: z.strictObject({
        name: functionName(),
        description: nullish(z.string()),
        schema: nullish(jsonObjectSchema()),
        strict: nullish(z.boolean()),
      }),
    }),
  ]),
);

export const STORE_REFUSAL = 'keygate keeps no conversation: send store: false or omit it';

/** The passed-on fields as the wire sends them (every one optional, `null` = absent). */
export const wireChatParamsShape = {
  stop: nullish(z.lazy(stopSchema)),
  seed: nullish(z.lazy(seedSchema)),
  presence_penalty: nullish(z.lazy(penalty)),
  frequency_penalty: nullish(z.lazy(penalty)),
  logit_bias: nullish(z.lazy(logitBiasSchema)),
  tools: nullish(z.lazy(() => z.array(wireToolSchema).check(z.minLength(1), z.maxLength(MAX_TOOLS)))),
  tool_choice: nullish(toolChoiceSchema),
  parallel_tool_calls: nullish(z.boolean()),
  response_format: nullish(wireResponseFormatSchema),
  reasoning_effort: nullish(z.enum(REASONING_EFFORTS)),
  service_tier: nullish(z.enum(SERVICE_TIERS)),
  store: nullish(z.literal(false, STORE_REFUSAL)),
  prompt_cache_key: nullish(z.lazy(promptCacheKey)),
  safety_identifier: nullish(z.lazy(safetyIdentifier)),
};

export type WireChatParams = {
  [K in keyof typeof wireChatParamsShape]: z.infer<(typeof wireChatParamsShape)[K]>;
};

/** The wire's passed-on fields in the brain's form: nulls dropped at every level. */
export function brainParamsOf(wire: WireChatParams): ChatParams {
  const { tools, response_format, ...flat } = withoutNulls(wire);
  const params: ChatParams = withoutNulls(flat);
  if (tools !== undefined) {
    params.tools = tools.map((tool) => ({ type: tool.type, function: withoutNulls(tool.function) }));
  }
  if (response_format !== undefined) {
    params.response_format =
      response_format.type === 'json_schema'
        ? { type: 'json_schema', json_schema: withoutNulls(response_format.json_schema) }
        : response_format;
  }
  return params;
}

/** A wire part in the brain's form. */
export function brainPartOf(part: WirePart): ContentPart {
  return part.type === 'text' ? part : { type: 'image_url', image_url: withoutNulls(part.image_url) };
}

export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

const chatContentSchema = z.lazy(() =>
  z.union(
    [z.string(), z.array(wirePartSchema).check(z.minLength(1))],
    'content must be a string or a non-empty array of text and image_url parts',
  ),
);

/** One message; which fields a role may carry is OpenAI's rule, checked across the fields. */
export const chatMessageSchema = z.lazy(() =>
  z
    .strictObject({
      role: z.enum(CHAT_ROLES),
      // Absent or null only for an assistant message that calls tools.
      content: nullish(chatContentSchema),
      name: nullish(z.string().check(z.minLength(1), ...maxStringLength(64))),
      tool_calls: nullish(z.array(toolCallSchema).check(z.minLength(1))),
      tool_call_id: nullish(z.string().check(z.minLength(1), ...maxStringLength(256))),
    })
    .check(
      z.superRefine((message, ctx) => {
        const issue = (path: (string | number)[], text: string) =>
          ctx.addIssue({ code: 'custom', path, message: text, input: message });
        const callsTools = Array.isArray(message.tool_calls) && message.tool_calls.length > 0;
        if (message.content === undefined || message.content === null) {
          if (message.role === 'assistant' && !callsTools) {
            issue(['content'], 'content is required unless the assistant message carries tool_calls');
          } else if (message.role !== 'assistant' && CHAT_ROLES.includes(message.role)) {
            issue(['content'], 'content is required: a string or an array of parts');
          }
        }
        if (message.tool_calls != null && message.role !== 'assistant') {
          issue(['tool_calls'], 'only assistant messages carry tool_calls');
        }
        if (message.role === 'tool' && message.tool_call_id == null) {
          issue(['tool_call_id'], 'required for role "tool": the id of the tool call this answers');
        } else if (message.tool_call_id != null && message.role !== 'tool') {
          issue(['tool_call_id'], 'only tool messages carry tool_call_id');
        }
        if (Array.isArray(message.content) && message.role !== 'user') {
          for (const [index, part] of message.content.entries()) {
            if (part?.type === 'image_url') {
              issue(['content', index], 'image_url parts are only allowed in user messages');
            }
          }
        }
      }),
    ),
);

export type ChatMessage = z.infer<typeof chatMessageSchema>;

/** One message in the brain's form: the text for `content`, the parts too when they hold an image. */
export function brainMessageOf(message: ChatMessage): BrainMessage {
  const content = message.content ?? '';
  const parts = typeof content === 'string' ? undefined : content;
  return {
    // OpenAI's `developer` role is the newer name of `system`.
    role: message.role === 'developer' ? 'system' : message.role,
    content:
      parts === undefined
        ? (content as string)
        : parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n'),
    ...(message.name == null ? {} : { name: message.name }),
    ...(message.tool_calls == null ? {} : { tool_calls: message.tool_calls }),
    ...(message.tool_call_id == null ? {} : { tool_call_id: message.tool_call_id }),
    ...(parts?.some((part) => part.type === 'image_url') ? { content_parts: parts.map(brainPartOf) } : {}),
  };
}

/**
 * OpenAI's rule on both of its wire formats: a tool choice other than none/auto needs the
 * tools it chooses from, and a named choice must name one of them. `chosen`: the name the
 * choice carries and where (chat nests it under `function`, Responses does not).
 */
export function checkToolChoice(
  ctx: z.core.$RefinementCtx,
  choice: unknown,
  toolNames: readonly (string | undefined)[],
  chosen: { name: string | undefined; path: readonly PropertyKey[] } | undefined,
): void {
  if ((choice === 'required' || typeof choice === 'object') && choice !== null && toolNames.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['tool_choice'],
      message: 'tool_choice needs "tools" to choose from',
      input: choice,
    });
  } else if (chosen !== undefined && !toolNames.includes(chosen.name)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tool_choice', ...chosen.path],
      message: 'names no function of "tools"',
      input: choice,
    });
  }
}
