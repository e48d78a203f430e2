/**
 * The reference brain, streamed (SPEC §4 v3): the very answer `referenceBrain` gives, as the
 * events of shared/domain/brain/stream.ts — `decision` first, the answer's content (or its tool
 * calls, OpenAI-style: a first delta with id, type and name, then pieces of the arguments) in
 * several paced `delta`s, the first of them at once, then `final` with the payment, the usage
 * and the finish reason. The same ids, content and payment as the plain answer, by construction.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { brainDecisionAnswerSchema } from '../../shared/domain/brain/contract.js';
import type { BrainStreamEvent, BrainUsage, DeltaEvent } from '../../shared/domain/brain/stream.js';
import { type ReferenceBrainOptions, referenceBrain, STREAM_ERROR_TEST_MODEL } from './brain.js';

export const DEFAULT_STREAM_DELTAS = 5;
export const DEFAULT_STREAM_PACE_MS = 40;

export interface ReferenceBrainStreamOptions extends ReferenceBrainOptions {
  /** Into how many deltas the content (and each tool call's arguments) is cut; default 5. */
  deltas?: number;
  /** The pause between two deltas (none before the first); default 40 ms. */
  paceMs?: number;
}

/**
 * The answer is no decision — a brain-side failure (`{success: false, error, message}`, e.g.
 * test-error or a request outside the contract), test-malformed's answer outside the contract,
 * or the catalogue — so it has no events: write `payload` as the one line of the stream, the
 * ordinary payload a plain Invoke would return. Thrown before any event.
 */
export class UnstreamableAnswer extends Error {
  override readonly name = 'UnstreamableAnswer';
  constructor(readonly payload: unknown) {
    super('The reference brain answered without a decision; send its payload as it is.');
  }
}

/** test-stream-error's failure after the first delta, as a brain that breaks off mid-answer. */
export class ReferenceBrainStreamError extends Error {
  override readonly name = 'ReferenceBrainStreamError';
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** `text` in at most `count` non-empty pieces of about equal length, never inside a surrogate pair. */
export function splitText(text: string, count: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (let index = 1; index <= count && start < text.length; index += 1) {
    let end = index === count ? text.length : Math.max(start + 1, Math.round((text.length * index) / count));
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end += 1;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
}

/** The deltas of an approved response: its text, then each tool call (header, then argument pieces). */
function deltasOf(response: Record<string, unknown>, count: number): DeltaEvent[] {
  const deltas: DeltaEvent[] = [];
  if (typeof response.content === 'string') {
    for (const piece of splitText(response.content, count)) deltas.push({ type: 'delta', content: piece });
  }
  const toolCalls = Array.isArray(response.tool_calls) ? response.tool_calls.filter(isRecord) : [];
  for (const [index, call] of toolCalls.entries()) {
    const fn = isRecord(call.function) ? call.function : {};
    const name = typeof fn.name === 'string' ? fn.name : '';
    const args = typeof fn.arguments === 'string' ? fn.arguments : '';
    const id = typeof call.id === 'string' ? call.id : undefined;
    deltas.push({
      type: 'delta',
      tool_calls: [{ index, ...(id ? { id } : {}), type: 'function', function: { name, arguments: '' } }],
    });
    for (const piece of splitText(args, Math.max(1, count - 1))) {
      deltas.push({ type: 'delta', tool_calls: [{ index, function: { arguments: piece } }] });
    }
  }
  return deltas;
}

/** The reference brain's usage (`input_tokens`/`output_tokens`) in OpenAI's words. */
function usageOf(response: Record<string, unknown>): BrainUsage | undefined {
  const usage = isRecord(response.usage) ? response.usage : undefined;
  const prompt = usage?.input_tokens;
  const completion = usage?.output_tokens;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * The reference brain's answer to `event` as stream events. Throws `UnstreamableAnswer` (before
 * any event) for an answer without a decision, whatever `referenceBrain` throws (test-throttle's
 * TooManyRequestsException) as it would, and `ReferenceBrainStreamError` after the first delta
 * for provider `reference` model `test-stream-error`. A rejection is its decision, then its final.
 */
export async function* referenceBrainEvents(
  event: unknown,
  options: ReferenceBrainStreamOptions = {},
): AsyncGenerator<BrainStreamEvent, void, undefined> {
  const payload = await referenceBrain(event, options);
  const parsed = brainDecisionAnswerSchema.safeParse(payload);
  if (!parsed.success) throw new UnstreamableAnswer(payload);
  const answer = parsed.data;
  yield { type: 'decision', decision: answer.decision };

  const response = isRecord(answer.response) ? answer.response : undefined;
  if (answer.decision.outcome !== 'approved' || !response) {
    yield {
      type: 'final',
      success: answer.success,
      payment: answer.payment,
      message: answer.message,
      response: answer.response,
    };
    return;
  }
  const breaksOff = response.provider === 'reference' && response.model === STREAM_ERROR_TEST_MODEL;
  const paceMs = options.paceMs ?? DEFAULT_STREAM_PACE_MS;
  const deltas = deltasOf(response, Math.max(1, options.deltas ?? DEFAULT_STREAM_DELTAS));
  for (const [index, delta] of deltas.entries()) {
    if (index > 0 && paceMs > 0) await sleep(paceMs);
    yield delta;
    if (breaksOff) throw new ReferenceBrainStreamError('Simulated failure mid-answer (test-stream-error).');
  }
  const usage = usageOf(response);
  yield {
    type: 'final',
    success: answer.success,
    payment: answer.payment,
    ...(usage ? { usage } : {}),
    finish_reason: typeof response.finish_reason === 'string' ? response.finish_reason : 'stop',
    message: answer.message,
    // The whole response, so a plain Invoke (which reads these lines) answers exactly what it did.
    response: answer.response,
  };
}
