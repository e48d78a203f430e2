/** The brain contract (SPEC §4), shared by the requests function and the reference brain. */
import * as z from 'zod';
import { MESSAGE_ROLES, OPERATION_TYPES } from '../requests/schema.js';

export const brainRequestSchema = z.strictObject({
  request_id: z.string().min(1),
  user_id: z.string().min(1),
  key_id: z.string().min(1),
  project_id: z.string().min(1),
  agent_id: z.string().nullable(),
  api_provider: z.string().min(1),
  model_name: z.string().min(1),
  operation_type: z.enum(OPERATION_TYPES),
  request_params: z.strictObject({
    messages: z.array(z.strictObject({ role: z.enum(MESSAGE_ROLES), content: z.string() })).optional(),
    prompt: z.string().optional(),
    temperature: z.number().optional(),
    max_tokens: z.number().int().optional(),
    top_p: z.number().optional(),
  }),
  metadata: z.record(z.string(), z.json()),
  request_source: z.literal('api'),
});

export type BrainRequest = z.infer<typeof brainRequestSchema>;

export const DECISION_OUTCOMES = ['approved', 'rejected', 'escalated', 'quarantined'] as const;

export const decisionSchema = z.object({
  decision_id: z.string().min(1),
  outcome: z.enum(DECISION_OUTCOMES),
  reasoning: z.string(),
  confidence: z.number().min(0).max(1),
  risk_score: z.number().optional(),
  policies_checked: z.array(z.string()).optional(),
  policy_violations: z.array(z.string()).optional(),
});

export const paymentSchema = z.object({
  payment_id: z.string().min(1),
  transaction_hash: z.string().nullable(),
  estimated_amount: z.number(),
  actual_amount: z.number(),
  variance_amount: z.number(),
  variance_percent: z.number(),
  currency: z.string().min(1),
  status: z.string().min(1),
  simulated: z.boolean().optional(),
});

export const brainDecisionAnswerSchema = z.object({
  success: z.boolean(),
  decision: decisionSchema,
  response: z.json().nullable(),
  payment: paymentSchema.nullable(),
  message: z.string(),
});

export const brainFailureAnswerSchema = z.object({
  success: z.literal(false),
  error: z.json(),
  message: z.string(),
});

/** A brain-side failure has `error` and no `decision`; anything else must be a decision. */
export const brainAnswerSchema = z.union([brainDecisionAnswerSchema, brainFailureAnswerSchema]);

export type BrainDecisionAnswer = z.infer<typeof brainDecisionAnswerSchema>;
export type BrainFailureAnswer = z.infer<typeof brainFailureAnswerSchema>;
export type BrainAnswer = z.infer<typeof brainAnswerSchema>;

/** The public 200 body: the brain's decision plus our request id. */
export const apiSuccessSchema = z.object({
  success: z.boolean(),
  decision: decisionSchema,
  response: z.json().nullable(),
  payment: paymentSchema.nullable(),
  message: z.string(),
  request_id: z.string(),
});
export type ApiSuccess = z.infer<typeof apiSuccessSchema>;
