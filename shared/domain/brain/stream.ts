/**
 * The brain's streamed answer (SPEC §4, v3): invoked with InvokeWithResponseStream, a
 * streaming brain writes newline-delimited JSON events — one `decision` first, then `delta`
 * events (content and OpenAI-style tool-call deltas), then one `final` with the payment and
 * the usage. Shared by the requests function (which reads them) and the reference brain
 * (which writes them). A brain that answers one ordinary payload instead is still accepted:
 * the requests function reads it as a decision, one delta and a final (see answerAsEvents).
 */
import * as z from '../zod.js';
import { type BrainDecisionAnswer, decisionSchema, paymentSchema } from './contract.js';

const index = () => z.number().check(z.int(), z.gte(0));
const tokens = () => z.number().check(z.int(), z.gte(0));

/** One piece of a tool call, as OpenAI streams it: `index` names the call, the rest arrives in parts. */
export const toolCallDeltaSchema = z.lazy(() =>
  z.object({
    index: index(),
    id: z.optional(z.string()),
    type: z.optional(z.literal('function')),
    function: z.optional(z.object({ name: z.optional(z.string()), arguments: z.optional(z.string()) })),
  }),
);
export type ToolCallDelta = z.infer<typeof toolCallDeltaSchema>;

/** Token counts in OpenAI's words (the provider's own, as the brain reports them). */
export const brainUsageSchema = z.lazy(() =>
  z.object({
    prompt_tokens: tokens(),
    completion_tokens: tokens(),
    total_tokens: z.optional(tokens()),
  }),
);
export type BrainUsage = z.infer<typeof brainUsageSchema>;

export const decisionEventSchema = z.lazy(() =>
  z.object({ type: z.literal('decision'), decision: decisionSchema }),
);

export const deltaEventSchema = z.lazy(() =>
  z.object({
    type: z.literal('delta'),
    content: z.optional(z.string()),
    tool_calls: z.optional(z.array(toolCallDeltaSchema)),
  }),
);

export const finalEventSchema = z.lazy(() =>
  z.object({
    type: z.literal('final'),
    /** As in the ordinary answer: the brain's own flag (keygate's `success` is true only when approved). */
    success: z.boolean(),
    payment: z.nullable(paymentSchema),
    usage: z.optional(brainUsageSchema),
    /** `stop`, `tool_calls`, `length`, … as the provider said; absent: `tool_calls` if any were streamed, else `stop`. */
    finish_reason: z.optional(z.string()),
    message: z.string(),
    /**
     * The whole response, as the brain's ordinary answer would hold it (the reference brain sends
     * it): what keygate stores and answers; without it, the deltas put together.
     */
    response: z.optional(z.json()),
  }),
);

export const brainStreamEventSchema = z.lazy(() =>
  z.discriminatedUnion('type', [decisionEventSchema, deltaEventSchema, finalEventSchema]),
);

export type DecisionEvent = z.infer<typeof decisionEventSchema>;
export type DeltaEvent = z.infer<typeof deltaEventSchema>;
export type FinalEvent = z.infer<typeof finalEventSchema>;
export type BrainStreamEvent = z.infer<typeof brainStreamEventSchema>;

/** A usage in OpenAI's words, also from Anthropic's (`input_tokens`/`output_tokens`, as the reference brain writes it). */
function openAiUsageOf(usage: unknown): unknown {
  if (usage === null || typeof usage !== 'object') return usage;
  const counts = usage as Record<string, unknown>;
  return {
    prompt_tokens: counts.prompt_tokens ?? counts.input_tokens,
    completion_tokens: counts.completion_tokens ?? counts.output_tokens,
    ...(counts.total_tokens !== undefined ? { total_tokens: counts.total_tokens } : {}),
  };
}

/** A brain that answered one ordinary payload, read as the events a streaming brain would have written. */
export function answerAsEvents(answer: BrainDecisionAnswer): [DecisionEvent, DeltaEvent, FinalEvent] {
  const response = answer.response;
  const record =
    response !== null && typeof response === 'object' && !Array.isArray(response)
      ? (response as Record<string, unknown>)
      : undefined;
  const content =
    typeof response === 'string'
      ? response
      : typeof record?.content === 'string'
        ? record.content
        : typeof record?.text === 'string'
          ? record.text
          : undefined;
  const toolCalls = Array.isArray(record?.tool_calls)
    ? (record.tool_calls as Array<Record<string, unknown>>).map((call, position) => ({
        index: position,
        ...(typeof call.id === 'string' ? { id: call.id } : {}),
        type: 'function' as const,
        function: (call.function ?? {}) as { name?: string; arguments?: string },
      }))
    : undefined;
  const usage = brainUsageSchema.safeParse(openAiUsageOf(record?.usage));
  const finishReason = typeof record?.finish_reason === 'string' ? record.finish_reason : undefined;
  return [
    { type: 'decision', decision: answer.decision },
    {
      type: 'delta',
      ...(content !== undefined ? { content } : {}),
      ...(toolCalls && toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    },
    {
      type: 'final',
      success: answer.success,
      payment: answer.payment,
      ...(usage.success ? { usage: usage.data } : {}),
      ...(finishReason !== undefined ? { finish_reason: finishReason } : {}),
      message: answer.message,
    },
  ];
}

interface AssembledToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * The deltas of one stream put together as the response a plain answer carries:
 * `{content, tool_calls?, usage?, finish_reason?}`. Tool calls are joined per `index` as OpenAI
 * clients join them (id, type and name from the first piece, the arguments concatenated).
 */
export class StreamAssembler {
  private content = '';
  private readonly toolCalls = new Map<number, AssembledToolCall>();

  add(delta: DeltaEvent): void {
    if (delta.content !== undefined) this.content += delta.content;
    for (const piece of delta.tool_calls ?? []) this.addToolCall(piece);
  }

  private addToolCall(piece: ToolCallDelta): void {
    const call = this.toolCalls.get(piece.index) ?? {
      id: '',
      type: 'function' as const,
      function: { name: '', arguments: '' },
    };
    if (piece.id !== undefined) call.id = piece.id;
    if (piece.function?.name !== undefined) call.function.name += piece.function.name;
    if (piece.function?.arguments !== undefined) call.function.arguments += piece.function.arguments;
    this.toolCalls.set(piece.index, call);
  }

  /** The response of the whole answer, once the final event has come: the brain's own when it sent it. */
  response(final: FinalEvent): BrainDecisionAnswer['response'] {
    if (final.response !== undefined) return final.response;
    const toolCalls = [...this.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    const response: Record<string, z.core.util.JSONType> = { content: this.content };
    if (toolCalls.length > 0)
      response.tool_calls = toolCalls.map((call) => ({ ...call, function: { ...call.function } }));
    if (final.usage) response.usage = { ...final.usage };
    if (final.finish_reason !== undefined) response.finish_reason = final.finish_reason;
    return response;
  }
}

/**
 * A streaming brain's events (decision, deltas, final — in that order, as the stream client
 * checks) as its ordinary answer: what a plain Invoke of a streaming brain returns, read.
 */
export function answerOfEvents(
  decision: DecisionEvent,
  deltas: readonly DeltaEvent[],
  final: FinalEvent,
): BrainDecisionAnswer {
  const assembler = new StreamAssembler();
  for (const delta of deltas) assembler.add(delta);
  return {
    success: final.success,
    decision: decision.decision,
    response: assembler.response(final),
    payment: final.payment,
    message: final.message,
  };
}
