/**
 * A streamed chat completion (SPEC §3b "Streaming"): the brain's streamed events (decision,
 * deltas, final; shared/domain/brain/stream.ts) as OpenAI's server-sent `chat.completion.chunk`
 * events — the first with `role: "assistant"`, content and tool-call deltas as OpenAI sends
 * them, the last with `finish_reason`, with `stream_options.include_usage` a usage chunk with
 * empty `choices`, then `data: [DONE]`. A failure after the stream started is one
 * `data: {"error": …}` event and the stream ends without `[DONE]`. The deltas are also
 * assembled into the response a plain call would have had: what is settled, stored and replayed.
 */
import { type ErrorCode, openAiTypeOf } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import type { DeltaEvent } from '../brain/stream.js';
import { chatChoiceOf, chatUsageOf } from './chat-completions.js';
import { deltaOfMessage, type StreamEncoder } from './wire-format.js';

/** What every chunk of one stream repeats. */
export interface ChunkContext {
  /** `chatcmpl-<request_id>`, as the plain answer's id. */
  id: string;
  created: number;
  /** The model as the caller wrote it. */
  model: string;
  includeUsage: boolean;
}

export const SSE_DONE = 'data: [DONE]\n\n';

/** One server-sent event carrying `data` as JSON. */
export function sseEvent(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

function chunk(
  context: ChunkContext,
  delta: Record<string, unknown>,
  finishReason: string | null,
): Record<string, unknown> {
  return {
    id: context.id,
    object: 'chat.completion.chunk',
    created: context.created,
    model: context.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // OpenAI sends `usage: null` on every chunk but the last when usage was asked for.
    ...(context.includeUsage ? { usage: null } : {}),
  };
}

/** The first event, as soon as the brain has decided: the assistant's turn begins. */
export function openingChunk(context: ChunkContext): string {
  return sseEvent(chunk(context, { role: 'assistant', content: '' }, null));
}

/** A brain delta as OpenAI's delta chunk; undefined for a delta that carries nothing. */
export function deltaChunk(context: ChunkContext, delta: DeltaEvent): string | undefined {
  const content = delta.content !== undefined && delta.content !== '' ? { content: delta.content } : {};
  const toolCalls = delta.tool_calls && delta.tool_calls.length > 0 ? { tool_calls: delta.tool_calls } : {};
  if (!('content' in content) && !('tool_calls' in toolCalls)) return undefined;
  return sseEvent(chunk(context, { ...content, ...toolCalls }, null));
}

/** The end of the answer: the finish reason, the usage chunk when asked for, `[DONE]`. */
export function closingChunks(context: ChunkContext, finishReason: string, response: unknown): string {
  const closing = sseEvent(chunk(context, {}, finishReason));
  if (!context.includeUsage) return closing + SSE_DONE;
  const usage = sseEvent({
    id: context.id,
    object: 'chat.completion.chunk',
    created: context.created,
    model: context.model,
    choices: [],
    usage: chatUsageOf(response),
  });
  return closing + usage + SSE_DONE;
}

/** A failure after the stream started: the caller's SDK raises it; no `[DONE]` follows. */
export function errorEvent(code: ErrorCode, message: string): string {
  return sseEvent({ error: { code, type: openAiTypeOf(code), message } });
}

/** A stored (or plain) approved answer replayed as the events of a stream, the same chunks as live. */
export function replayedStream(answer: ApiSuccess, context: ChunkContext): string {
  const { message, finish_reason } = chatChoiceOf(answer.response);
  return (
    openingChunk(context) +
    (deltaChunk(context, deltaOfMessage(message)) ?? '') +
    closingChunks(context, finish_reason, answer.response)
  );
}

/** The chunks of one streamed chat completion, as the pipeline writes them. */
export function chatStreamEncoder(context: ChunkContext): StreamEncoder {
  return {
    opening: () => openingChunk(context),
    delta: (delta) => deltaChunk(context, delta),
    closing: (answer) => closingChunks(context, chatChoiceOf(answer.response).finish_reason, answer.response),
    error: errorEvent,
    replay: (answer) => replayedStream(answer, context),
  };
}
