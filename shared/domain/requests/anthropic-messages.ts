/**
 * POST /v1/messages and POST /v1/messages/count_tokens (SPEC §3d): Anthropic's Messages
 * request (./anthropic-schema.ts) becomes the same brain request as every route
 * (`operation_type: "chat"`, the chat form in `messages` for scopes, logs and the estimate) with
 * Anthropic's own fields as its `request_params` (`native_params`), and the brain's answer an
 * Anthropic `message`, or its SSE events. Only the translation lives here (./process.ts).
 */
import { anthropicErrorTypeOf, type ErrorCode, type ErrorDetail, HttpError } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import type { DeltaEvent } from '../brain/stream.js';
import { estimateInputTokens } from '../brain/token-estimate.js';
import { issuesToDetails } from '../validation.js';
import { chatFormOfAnthropic } from './anthropic-chat-form.js';
import {
  ANTHROPIC_PARAM_FIELDS,
  type AnthropicParams,
  anthropicCountTokensRequestSchema,
  anthropicMessagesRequestSchema,
} from './anthropic-schema.js';
import { chatUsageOf } from './chat-completions.js';
import { PROVIDER_PATTERN, type RequestFields } from './schema.js';
import {
  firstProblemMessage,
  keygateHeaderDetails,
  type ParsedCall,
  type StreamEncoder,
  type WireFormat,
  type WireHeaders,
} from './wire-format.js';

/** A bare model name is Anthropic's, as in Anthropic's own API. */
export const DEFAULT_ANTHROPIC_PROVIDER = 'anthropic';

export function splitAnthropicModel(value: string): { provider: string; model: string } {
  const slash = value.indexOf('/');
  return slash < 0
    ? { provider: DEFAULT_ANTHROPIC_PROVIDER, model: value }
    : { provider: value.slice(0, slash), model: value.slice(slash + 1) };
}

function modelDetails(value: string): ErrorDetail[] {
  const { provider, model } = splitAnthropicModel(value);
  const details: ErrorDetail[] = [];
  if (!PROVIDER_PATTERN.test(provider)) {
    details.push({
      path: 'model',
      message: `"${provider}" is not a provider: write "provider/model" with a lowercase provider, or a bare Anthropic model name`,
    });
  }
  if (model.length === 0 || model.length > 128) {
    details.push({ path: 'model', message: 'the model name after the provider must be 1-128 characters' });
  }
  return details;
}

const failed = (details: ErrorDetail[]) => ({
  ok: false as const,
  details,
  message: firstProblemMessage(details),
});

/** Anthropic's fields of a valid body, plus the version and beta headers, as the brain's params. */
function nativeParamsOf(body: Record<string, unknown>, headers: WireHeaders): AnthropicParams {
  const params: Record<string, unknown> = { format: 'anthropic' };
  for (const field of ANTHROPIC_PARAM_FIELDS) {
    if (body[field] !== undefined && body[field] !== null) params[field] = body[field];
  }
  const version = headers['anthropic-version'];
  if (version !== undefined && version.length > 0) params.anthropic_version = version;
  const beta = headers['anthropic-beta']
    ?.split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  if (beta !== undefined && beta.length > 0) params.anthropic_beta = beta;
  return params as AnthropicParams;
}

/** Validates a Messages body and its headers: one brain request's fields, or every problem. */
export function parseAnthropicMessages(body: unknown, headers: WireHeaders) {
  const parsed = anthropicMessagesRequestSchema.safeParse(body);
  const details = parsed.success ? modelDetails(parsed.data.model) : issuesToDetails(parsed.error.issues);
  details.push(...keygateHeaderDetails(headers['keygate-project-id'], headers['keygate-agent-id']));
  if (!parsed.success || details.length > 0) return failed(details);
  const data = parsed.data;
  const native = nativeParamsOf(data, headers);
  const chat = chatFormOfAnthropic(native);
  const { provider, model } = splitAnthropicModel(data.model);
  const agentId = headers['keygate-agent-id'] ?? data.metadata?.user_id ?? undefined;
  const projectId = headers['keygate-project-id'];
  const request: RequestFields = {
    provider,
    model,
    operation_type: 'chat',
    messages: chat.messages ?? [],
    max_tokens: data.max_tokens,
    ...(data.temperature === undefined ? {} : { temperature: data.temperature }),
    ...(data.top_p === undefined ? {} : { top_p: data.top_p }),
    ...(projectId === undefined ? {} : { project_id: projectId }),
    ...(agentId === undefined ? {} : { agent_id: agentId }),
    native_params: native,
  };
  const call: ParsedCall = { request, model: data.model, stream: data.stream === true };
  return { ok: true as const, call };
}

/** POST /v1/messages/count_tokens: the reference brain's estimate of the body's chat form. */
export function countTokens(
  body: unknown,
  headers: WireHeaders,
): { ok: true; input_tokens: number } | { ok: false; details: ErrorDetail[]; message: string } {
  const parsed = anthropicCountTokensRequestSchema.safeParse(body);
  const details = parsed.success ? modelDetails(parsed.data.model) : issuesToDetails(parsed.error.issues);
  if (!parsed.success || details.length > 0) return failed(details);
  return {
    ok: true,
    input_tokens: estimateInputTokens(chatFormOfAnthropic(nativeParamsOf(parsed.data, headers))),
  };
}

export function anthropicPathOf(path: string): string {
  if (path === 'provider' || path === 'model') return 'model';
  if (path === 'project_id') return 'Keygate-Project-Id';
  if (path === 'agent_id') return 'metadata.user_id';
  return path;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export type AnthropicStopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';

export type AnthropicResponseBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function inputOf(args: unknown): Record<string, unknown> {
  if (isRecord(args)) return args;
  if (typeof args !== 'string') return {};
  try {
    const value: unknown = JSON.parse(args);
    return isRecord(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * A brain's response as Anthropic's content blocks, stop reason and usage: an Anthropic message
 * (content blocks and a stop_reason) passed on, otherwise built from the generic response
 * (`content`, OpenAI-style `tool_calls`, `finish_reason`, `usage`).
 */
export function anthropicMessageOf(response: unknown): {
  content: unknown[];
  stop_reason: string;
  usage: { input_tokens: number; output_tokens: number };
} {
  const counts = chatUsageOf(response);
  const usage = { input_tokens: counts.prompt_tokens, output_tokens: counts.completion_tokens };
  if (isRecord(response) && Array.isArray(response.content) && typeof response.stop_reason === 'string') {
    return { content: response.content, stop_reason: response.stop_reason, usage };
  }
  const blocks: AnthropicResponseBlock[] = [];
  const text =
    typeof response === 'string'
      ? response
      : isRecord(response) && typeof response.content === 'string'
        ? response.content
        : isRecord(response) && typeof response.text === 'string'
          ? response.text
          : '';
  if (text.length > 0) blocks.push({ type: 'text', text });
  const calls = isRecord(response) && Array.isArray(response.tool_calls) ? response.tool_calls : [];
  for (const [index, call] of calls.entries()) {
    const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
    if (!isRecord(call) || typeof fn?.name !== 'string') continue;
    const id = typeof call.id === 'string' && call.id.length > 0 ? call.id : `toolu_${index}`;
    blocks.push({ type: 'tool_use', id, name: fn.name, input: inputOf(fn.arguments) });
  }
  const finish =
    isRecord(response) && typeof response.finish_reason === 'string' ? response.finish_reason : '';
  const stop_reason: AnthropicStopReason = blocks.some((block) => block.type === 'tool_use')
    ? 'tool_use'
    : finish === 'length'
      ? 'max_tokens'
      : finish === 'stop_sequence'
        ? 'stop_sequence'
        : 'end_turn';
  return { content: blocks, stop_reason, usage };
}

function approvedOrThrow(answer: ApiSuccess): void {
  if (!answer.success || answer.decision.outcome !== 'approved') {
    throw new HttpError(
      'forbidden',
      answer.message || `The brain did not approve this request (${answer.decision.outcome}).`,
    );
  }
}

/** An approved decision as Anthropic's `message`; any other decision is a 403 with the brain's message. */
export function toAnthropicMessage(answer: ApiSuccess, model: string): Record<string, unknown> {
  approvedOrThrow(answer);
  const { content, stop_reason, usage } = anthropicMessageOf(answer.response);
  return {
    id: `msg_${answer.request_id}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason,
    stop_sequence: null,
    usage,
    keygate: { request_id: answer.request_id, decision: answer.decision, payment: answer.payment },
  };
}

/** One Anthropic server-sent event. */
export function anthropicSseEvent(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/** Anthropic's SSE events of one streamed message, as the pipeline writes them. */
export function anthropicStreamEncoder(model: string, requestId: string): StreamEncoder {
  let next = 0;
  /** The open block: `text`, or the tool call of this brain `index`. */
  let open: { kind: 'text' } | { kind: 'tool'; call: number } | undefined;

  const stopOpen = () => {
    if (!open) return '';
    open = undefined;
    return anthropicSseEvent('content_block_stop', { index: next - 1 });
  };
  const start = (block: Record<string, unknown>) => {
    const index = next;
    next += 1;
    return anthropicSseEvent('content_block_start', { index, content_block: block });
  };

  const opening = () =>
    anthropicSseEvent('message_start', {
      message: {
        id: `msg_${requestId}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    }) + anthropicSseEvent('ping', {});

  const delta = (event: DeltaEvent): string | undefined => {
    let out = '';
    if (event.content) {
      if (open?.kind !== 'text') out += stopOpen() + start({ type: 'text', text: '' });
      open = { kind: 'text' };
      out += anthropicSseEvent('content_block_delta', {
        index: next - 1,
        delta: { type: 'text_delta', text: event.content },
      });
    }
    for (const piece of event.tool_calls ?? []) {
      if (open?.kind !== 'tool' || open.call !== piece.index) {
        out += stopOpen();
        out += start({
          type: 'tool_use',
          id: piece.id ?? `toolu_${piece.index}`,
          name: piece.function?.name ?? '',
          input: {},
        });
        open = { kind: 'tool', call: piece.index };
      }
      const args = piece.function?.arguments;
      if (args) {
        out += anthropicSseEvent('content_block_delta', {
          index: next - 1,
          delta: { type: 'input_json_delta', partial_json: args },
        });
      }
    }
    return out.length > 0 ? out : undefined;
  };

  const closing = (answer: ApiSuccess) => {
    const { stop_reason, usage } = anthropicMessageOf(answer.response);
    return (
      stopOpen() +
      anthropicSseEvent('message_delta', {
        delta: { stop_reason, stop_sequence: null },
        usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens },
      }) +
      anthropicSseEvent('message_stop', {})
    );
  };

  const error = (code: ErrorCode, message: string) =>
    anthropicSseEvent('error', { error: { type: anthropicErrorTypeOf(code), message } });

  /** The whole answer at once: its blocks as the same events a live stream sends. */
  const replay = (answer: ApiSuccess) => {
    const { content } = anthropicMessageOf(answer.response);
    let out = opening();
    for (const [index, block] of content.entries()) {
      if (!isRecord(block)) continue;
      if (block.type === 'text') {
        out += anthropicSseEvent('content_block_start', { index, content_block: { type: 'text', text: '' } });
        out += anthropicSseEvent('content_block_delta', {
          index,
          delta: { type: 'text_delta', text: typeof block.text === 'string' ? block.text : '' },
        });
      } else if (block.type === 'tool_use') {
        out += anthropicSseEvent('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        });
        out += anthropicSseEvent('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input ?? {}) },
        });
      } else {
        out += anthropicSseEvent('content_block_start', { index, content_block: block });
      }
      out += anthropicSseEvent('content_block_stop', { index });
    }
    open = undefined;
    return out + closing(answer);
  };

  return { opening, delta, closing, error, replay };
}

/** POST /v1/messages as a wire format of the one pipeline (./process.ts). */
export const anthropicMessagesFormat: WireFormat = {
  parse: parseAnthropicMessages,
  pathOf: anthropicPathOf,
  present: (answer, call) => toAnthropicMessage(answer, call.model),
  encoder: (call, requestId) => anthropicStreamEncoder(call.model, requestId),
};
