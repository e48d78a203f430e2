/**
 * Anthropic's Messages request (SPEC §3d), validated strictly: an unknown field is named in the
 * 400. `AnthropicParams` is what the brain gets for it in `request_params` (`format:
 * "anthropic"`, Anthropic's fields under their own names).
 *
 * Choices:
 * - `citations` and `cache_control` on blocks are accepted and passed on as sent (the brain
 *   hands them to the provider).
 * - Top-level fields the SDK (1.17) may send: `cache_control`, `output_config`,
 *   `service_tier`, `thinking` and `speed` are accepted and passed on; `container`,
 *   `diagnostics`, `inference_geo` (server-side features keygate does not run) and
 *   `user_profile_id`/`workspace_id` (the SDK sends them as headers, never in the body) are
 *   refused as unknown fields.
 * - Server tools (a `type` other than `custom`) are refused: keygate runs no tools.
 */
import { maxStringLength } from '../validation.js';
import * as z from '../zod.js';

/** Anthropic's rule for tool names. */
export const ANTHROPIC_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_ANTHROPIC_TOOLS = 128;
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;

const nonEmpty = () => z.string().check(z.minLength(1));
const cacheControl = () =>
  z.optional(z.strictObject({ type: z.literal('ephemeral'), ttl: z.optional(z.enum(['5m', '1h'])) }));
const jsonObject = () => z.record(z.string(), z.json());

export const anthropicTextBlockSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('text'),
    text: z.string(),
    cache_control: cacheControl(),
    citations: z.optional(z.nullable(z.array(jsonObject()))),
  }),
);

export const anthropicImageBlockSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('base64'), media_type: z.enum(IMAGE_MEDIA_TYPES), data: nonEmpty() }),
      z.strictObject({ type: z.literal('url'), url: nonEmpty() }),
    ]),
    cache_control: cacheControl(),
  }),
);

export const anthropicToolUseBlockSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('tool_use'),
    id: nonEmpty(),
    name: nonEmpty(),
    input: jsonObject(),
    cache_control: cacheControl(),
  }),
);

export const anthropicToolResultBlockSchema = z.lazy(() =>
  z.strictObject({
    type: z.literal('tool_result'),
    tool_use_id: nonEmpty(),
    content: z.optional(
      z.union([
        z.string(),
        z.array(z.discriminatedUnion('type', [anthropicTextBlockSchema, anthropicImageBlockSchema])),
      ]),
    ),
    is_error: z.optional(z.boolean()),
    cache_control: cacheControl(),
  }),
);

export const anthropicContentBlockSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    anthropicTextBlockSchema,
    anthropicImageBlockSchema,
    anthropicToolUseBlockSchema,
    anthropicToolResultBlockSchema,
  ]),
);
export type AnthropicContentBlock = z.infer<typeof anthropicContentBlockSchema>;

/** One message; `tool_use` only in assistant messages, `tool_result` only in user messages. */
export const anthropicMessageSchema = z.lazy(() =>
  z
    .strictObject({
      role: z.enum(['user', 'assistant']),
      content: z.union(
        [z.string(), z.array(anthropicContentBlockSchema).check(z.minLength(1))],
        'content must be a string or a non-empty array of text, image, tool_use and tool_result blocks',
      ),
    })
    .check(
      z.superRefine((message, ctx) => {
        if (!Array.isArray(message.content)) return;
        for (const [index, block] of message.content.entries()) {
          if (block.type === 'tool_use' && message.role !== 'assistant') {
            ctx.addIssue({
              code: 'custom',
              path: ['content', index],
              message: 'tool_use blocks are only allowed in assistant messages',
              input: block,
            });
          }
          if (block.type === 'tool_result' && message.role !== 'user') {
            ctx.addIssue({
              code: 'custom',
              path: ['content', index],
              message: 'tool_result blocks are only allowed in user messages',
              input: block,
            });
          }
        }
      }),
    ),
);
export type AnthropicMessage = z.infer<typeof anthropicMessageSchema>;

export const anthropicToolSchema = z.lazy(() =>
  z.strictObject({
    type: z.optional(z.nullable(z.literal('custom', 'keygate runs no server tools: only custom tools'))),
    name: z
      .string()
      .check(z.regex(ANTHROPIC_TOOL_NAME, 'must be 1-64 letters, digits, underscores or dashes')),
    description: z.optional(z.string()),
    input_schema: jsonObject().check(
      z.refine((schema) => schema.type === 'object', {
        message: 'input_schema must be a JSON Schema of type "object"',
        path: ['type'],
      }),
    ),
    cache_control: cacheControl(),
    strict: z.optional(z.boolean()),
  }),
);
export type AnthropicTool = z.infer<typeof anthropicToolSchema>;

export const anthropicToolChoiceSchema = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('auto'), disable_parallel_tool_use: z.optional(z.boolean()) }),
    z.strictObject({ type: z.literal('any'), disable_parallel_tool_use: z.optional(z.boolean()) }),
    z.strictObject({
      type: z.literal('tool'),
      name: nonEmpty(),
      disable_parallel_tool_use: z.optional(z.boolean()),
    }),
    z.strictObject({ type: z.literal('none') }),
  ]),
);
export type AnthropicToolChoice = z.infer<typeof anthropicToolChoiceSchema>;

const systemSchema = () => z.union([z.string(), z.array(anthropicTextBlockSchema)]);
const thinkingSchema = () =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('enabled'), budget_tokens: z.number().check(z.int(), z.gte(1)) }),
    z.strictObject({ type: z.literal('disabled') }),
    z.strictObject({
      type: z.literal('adaptive'),
      display: z.optional(z.nullable(z.enum(['summarized', 'omitted']))),
    }),
    z.strictObject({ type: z.literal('between_tools') }),
  ]);
const outputConfigSchema = () =>
  z.strictObject({
    effort: z.optional(z.nullable(z.enum(['low', 'medium', 'high', 'xhigh', 'max']))),
    format: z.optional(z.nullable(z.strictObject({ type: z.literal('json_schema'), schema: jsonObject() }))),
  });
const maxTokens = () => z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER));

/** The fields both the messages and the count_tokens bodies carry, and the params pass on. */
const sharedShape = () => ({
  messages: z.array(anthropicMessageSchema).check(z.minLength(1)),
  system: z.optional(systemSchema()),
  temperature: z.optional(z.number().check(z.gte(0), z.lte(1))),
  top_p: z.optional(z.number().check(z.gte(0), z.lte(1))),
  top_k: z.optional(z.number().check(z.int(), z.gte(0))),
  stop_sequences: z.optional(z.array(z.string())),
  tools: z.optional(z.array(anthropicToolSchema).check(z.maxLength(MAX_ANTHROPIC_TOOLS))),
  tool_choice: z.optional(anthropicToolChoiceSchema),
  thinking: z.optional(thinkingSchema()),
  service_tier: z.optional(z.enum(['auto', 'standard_only'])),
  cache_control: z.optional(
    z.nullable(z.strictObject({ type: z.literal('ephemeral'), ttl: z.optional(z.enum(['5m', '1h'])) })),
  ),
  output_config: z.optional(outputConfigSchema()),
  speed: z.optional(z.nullable(z.enum(['standard', 'fast']))),
});

const modelSchema = () => z.string().check(z.minLength(1), ...maxStringLength(256));

/** Anthropic's rule: a `tool` choice names one of `tools`. */
const toolChoiceNamesATool = () =>
  z.superRefine(
    (body: { tools?: AnthropicTool[] | undefined; tool_choice?: AnthropicToolChoice | undefined }, ctx) => {
      const choice = body.tool_choice;
      if (choice?.type !== 'tool') return;
      if (!(body.tools ?? []).some((tool) => tool.name === choice.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tool_choice', 'name'],
          message: `names no tool of "tools"`,
          input: choice,
        });
      }
    },
  );

export const anthropicMessagesRequestSchema = z.lazy(() =>
  z
    .strictObject({
      model: modelSchema(),
      max_tokens: maxTokens(),
      metadata: z.optional(
        z.strictObject({
          user_id: z.optional(z.nullable(z.string().check(z.minLength(1), ...maxStringLength(128)))),
        }),
      ),
      stream: z.optional(z.boolean()),
      ...sharedShape(),
    })
    .check(toolChoiceNamesATool()),
);
export type AnthropicMessagesRequest = z.infer<typeof anthropicMessagesRequestSchema>;

/** POST /v1/messages/count_tokens: the same body without `max_tokens`, `metadata` and `stream`. */
export const anthropicCountTokensRequestSchema = z.lazy(() =>
  z.strictObject({ model: modelSchema(), ...sharedShape() }).check(toolChoiceNamesATool()),
);
export type AnthropicCountTokensRequest = z.infer<typeof anthropicCountTokensRequestSchema>;

/** The brain's `request_params` for an Anthropic request: its fields under their own names. */
export const anthropicParamsSchema = z.lazy(() =>
  z.strictObject({
    format: z.literal('anthropic'),
    ...sharedShape(),
    max_tokens: z.optional(maxTokens()),
    anthropic_version: z.optional(z.string()),
    anthropic_beta: z.optional(z.array(z.string())),
  }),
);
export type AnthropicParams = z.infer<typeof anthropicParamsSchema>;

/** The fields of a parsed body that AnthropicParams passes on (all but model, metadata, stream). */
export const ANTHROPIC_PARAM_FIELDS = [
  'messages',
  'max_tokens',
  'system',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'tools',
  'tool_choice',
  'thinking',
  'service_tier',
  'cache_control',
  'output_config',
  'speed',
] as const;
