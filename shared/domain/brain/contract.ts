/** The brain contract (SPEC §4), shared by the requests function and the reference brain. */
import { type AnthropicParams, anthropicParamsSchema } from '../requests/anthropic-schema.js';
import { brainMessageSchema, chatParamsShape } from '../requests/openai-chat-schema.js';
import { OPERATION_TYPES } from '../requests/schema.js';
import * as z from '../zod.js';

const nonEmpty = () => z.string().check(z.minLength(1));

export const brainRequestSchema = z.lazy(() =>
  z.strictObject({
    request_id: nonEmpty(),
    user_id: nonEmpty(),
    key_id: nonEmpty(),
    project_id: nonEmpty(),
    agent_id: z.nullable(z.string()),
    api_provider: nonEmpty(),
    model_name: nonEmpty(),
    operation_type: z.enum(OPERATION_TYPES),
    // The chat form (POST /api/v1/requests, /v1/chat/completions), or Anthropic's own (SPEC §3d).
    request_params: z.union([
      z.strictObject({
        // A message may carry what OpenAI's do (SPEC §3b): `name`, `tool_calls`, `tool_call_id`, image parts.
        messages: z.optional(z.array(brainMessageSchema)),
        prompt: z.optional(z.string()),
        temperature: z.optional(z.number()),
        max_tokens: z.optional(z.number().check(z.int())),
        top_p: z.optional(z.number()),
        // The other OpenAI chat-completions fields (SPEC §4 v3), under OpenAI's names, for the provider.
        ...chatParamsShape,
      }),
      anthropicParamsSchema,
    ]),
    metadata: z.record(z.string(), z.json()),
    request_source: z.literal('api'),
    /**
     * A budgeted key's hold (SPEC §5b): the brain pays at most this for the request. Absent for
     * a key without a budget.
     */
    spend_limit: z.optional(
      z.strictObject({ amount: z.number().check(z.gte(0)), currency: z.literal('USD') }),
    ),
  }),
);

export type BrainRequest = z.infer<typeof brainRequestSchema>;
/** The chat form of `request_params` (every route but POST /v1/messages). */
export type ChatRequestParams = Exclude<BrainRequest['request_params'], AnthropicParams>;

/** Whether the params are Anthropic's own (POST /v1/messages, SPEC §3d). */
export function isAnthropicParams(params: BrainRequest['request_params']): params is AnthropicParams {
  return 'format' in params && params.format === 'anthropic';
}

export const DECISION_OUTCOMES = ['approved', 'rejected', 'escalated', 'quarantined'] as const;

export const decisionSchema = z.lazy(() =>
  z.object({
    decision_id: nonEmpty(),
    outcome: z.enum(DECISION_OUTCOMES),
    reasoning: z.string(),
    confidence: z.number().check(z.gte(0), z.lte(1)),
    risk_score: z.optional(z.number()),
    policies_checked: z.optional(z.array(z.string())),
    policy_violations: z.optional(z.array(z.string())),
  }),
);

export const paymentSchema = z.lazy(() =>
  z.object({
    payment_id: nonEmpty(),
    transaction_hash: z.nullable(z.string()),
    estimated_amount: z.number(),
    actual_amount: z.number(),
    variance_amount: z.number(),
    variance_percent: z.number(),
    currency: nonEmpty(),
    status: nonEmpty(),
    simulated: z.optional(z.boolean()),
  }),
);

/**
 * The provider's answer, any JSON; when it is an object with `tool_calls` (SPEC §4 v3), they are
 * OpenAI's: `[{id, type: "function", function: {name, arguments}}]`, `arguments` a JSON string.
 */
const answeredToolCallSchema = z.lazy(() =>
  z.object({
    id: nonEmpty(),
    type: z.literal('function'),
    function: z.object({ name: nonEmpty(), arguments: z.string() }),
  }),
);

export const brainResponseSchema = z.lazy(() =>
  z.nullable(z.json()).check(
    z.superRefine((response, ctx) => {
      if (response === null || typeof response !== 'object' || Array.isArray(response)) return;
      if (!Object.hasOwn(response, 'tool_calls')) return;
      const toolCalls = z.array(answeredToolCallSchema).safeParse(response.tool_calls);
      for (const issue of toolCalls.error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', path: ['tool_calls', ...issue.path], message: issue.message });
      }
    }),
  ),
);

export const brainDecisionAnswerSchema = z.lazy(() =>
  z.object({
    success: z.boolean(),
    decision: decisionSchema,
    response: brainResponseSchema,
    payment: z.nullable(paymentSchema),
    message: z.string(),
  }),
);

export const brainFailureAnswerSchema = z.lazy(() =>
  z.object({
    success: z.literal(false),
    error: z.json(),
    message: z.string(),
  }),
);

/** A brain-side failure has `error` and no `decision`; anything else must be a decision. */
export const brainAnswerSchema = z.lazy(() => z.union([brainDecisionAnswerSchema, brainFailureAnswerSchema]));

export type BrainDecisionAnswer = z.infer<typeof brainDecisionAnswerSchema>;
export type BrainFailureAnswer = z.infer<typeof brainFailureAnswerSchema>;
export type BrainAnswer = z.infer<typeof brainAnswerSchema>;

/** The brain's catalogue (SPEC §4 v3): invoked with this instead of a request, it lists what it serves. */
export const LIST_MODELS_ACTION = 'list_models';
export const listModelsRequestSchema = z.lazy(() =>
  z.strictObject({ action: z.literal(LIST_MODELS_ACTION) }),
);
export const brainCatalogueSchema = z.lazy(() =>
  z.object({
    models: z.array(z.object({ provider: nonEmpty(), model: nonEmpty() })),
  }),
);
export type BrainCatalogue = z.infer<typeof brainCatalogueSchema>;

/** The public 200 body: the brain's decision plus our request id. */
export const apiSuccessSchema = z.lazy(() =>
  z.object({
    success: z.boolean(),
    decision: decisionSchema,
    response: z.nullable(z.json()),
    payment: z.nullable(paymentSchema),
    message: z.string(),
    request_id: z.string(),
  }),
);
export type ApiSuccess = z.infer<typeof apiSuccessSchema>;
