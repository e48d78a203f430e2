/**
 * The server-sent events of a streamed POST /v1/responses (SPEC §3e), in the order the `openai`
 * SDK and the OpenAI Agents SDK assemble them: `response.created`, `response.in_progress`,
 * items added / growing / done, then `response.completed` (or `incomplete`, or `failed`).
 */
import type { ErrorCode } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import type { DeltaEvent } from '../brain/stream.js';
import { chatChoiceOf } from './chat-completions.js';
import {
  functionCallItem,
  functionCallItemId,
  type ItemStatus,
  messageItem,
  messageItemId,
  pendingResponse,
  type ResponseObject,
  type ResponsesOutputItem,
  toResponse,
} from './responses-answer.js';
import { deltaOfMessage, type ParsedCall, type StreamEncoder } from './wire-format.js';

/** One server-sent event of the Responses API: its type named twice, as OpenAI sends it. */
function responsesEvent(data: { type: string }): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** OpenAI's `ResponseError.code` for a keygate error code. */
function responseErrorCodeOf(code: ErrorCode): string {
  return code === 'rate_limited' || code === 'quota_exceeded' || code === 'budget_exceeded'
    ? 'rate_limit_exceeded'
    : 'server_error';
}

/** An output item as the stream builds it; `toolIndex` is the brain's index of a tool call. */
type OpenItem =
  | { kind: 'message'; index: number; text: string; done: boolean }
  | {
      kind: 'call';
      index: number;
      toolIndex: number;
      id: string;
      name: string;
      arguments: string;
      done: boolean;
    };

/**
 * The events of one streamed response. Each output item is opened when its first delta
 * arrives (`response.output_item.added`, for text also `response.content_part.added`), grows
 * by deltas and is closed (`….done` events) when the next item begins or the answer ends;
 * the last event is `response.completed` (or `response.incomplete`) with the same response
 * object a plain call answers.
 */
class ResponsesStream {
  private sequence = 0;
  private readonly items: OpenItem[] = [];

  constructor(
    private readonly call: ParsedCall,
    private readonly requestId: string,
    private readonly created: number,
  ) {}

  private event(data: Record<string, unknown> & { type: string }): string {
    const numbered = { ...data, sequence_number: this.sequence };
    this.sequence += 1;
    return responsesEvent(numbered);
  }

  opening(): string {
    const response = pendingResponse(this.call, this.requestId, this.created);
    return (
      this.event({ type: 'response.created', response }) +
      this.event({ type: 'response.in_progress', response })
    );
  }

  private itemOf(item: OpenItem, status: ItemStatus): ResponsesOutputItem {
    if (item.kind === 'message') return messageItem(this.requestId, item.text, status);
    return functionCallItem(
      { id: item.id, type: 'function', function: { name: item.name, arguments: item.arguments } },
      status,
    );
  }

  private close(item: OpenItem, status: ItemStatus): string {
    if (item.done) return '';
    item.done = true;
    const output_index = item.index;
    const done = this.itemOf(item, status);
    if (item.kind === 'message') {
      const item_id = messageItemId(this.requestId);
      const part = { type: 'output_text', text: item.text, annotations: [] };
      return (
        this.event({
          type: 'response.output_text.done',
          item_id,
          output_index,
          content_index: 0,
          text: item.text,
          logprobs: [],
        }) +
        this.event({ type: 'response.content_part.done', item_id, output_index, content_index: 0, part }) +
        this.event({ type: 'response.output_item.done', output_index, item: done })
      );
    }
    return (
      this.event({
        type: 'response.function_call_arguments.done',
        item_id: functionCallItemId(item.id),
        output_index,
        name: item.name,
        arguments: item.arguments,
      }) + this.event({ type: 'response.output_item.done', output_index, item: done })
    );
  }

  /** Opens `item` after closing the one before it. */
  private open(item: OpenItem): string {
    const previous = this.items.at(-1);
    const closed = previous === undefined ? '' : this.close(previous, 'completed');
    this.items.push(item);
    const output_index = item.index;
    const added = this.event({
      type: 'response.output_item.added',
      output_index,
      item: this.itemOf(item, 'in_progress'),
    });
    if (item.kind === 'message') {
      const part = { type: 'output_text', text: '', annotations: [] };
      return (
        closed +
        added +
        this.event({
          type: 'response.content_part.added',
          item_id: messageItemId(this.requestId),
          output_index,
          content_index: 0,
          part,
        })
      );
    }
    return closed + added;
  }

  private text(content: string): string {
    let out = '';
    let item = this.items.at(-1);
    if (item?.kind !== 'message' || item.done) {
      item = { kind: 'message', index: this.items.length, text: '', done: false };
      out += this.open(item);
    }
    item.text += content;
    return (
      out +
      this.event({
        type: 'response.output_text.delta',
        item_id: messageItemId(this.requestId),
        output_index: item.index,
        content_index: 0,
        delta: content,
        logprobs: [],
      })
    );
  }

  private toolCall(piece: NonNullable<DeltaEvent['tool_calls']>[number]): string {
    let out = '';
    let item = this.items.find((open) => open.kind === 'call' && open.toolIndex === piece.index);
    if (item === undefined) {
      item = {
        kind: 'call',
        index: this.items.length,
        toolIndex: piece.index,
        id: piece.id ?? `call_${piece.index}`,
        name: piece.function?.name ?? '',
        arguments: '',
        done: false,
      };
      out += this.open(item);
    }
    if (item.kind !== 'call') return out;
    const args = piece.function?.arguments ?? '';
    if (args === '') return out;
    item.arguments += args;
    return (
      out +
      this.event({
        type: 'response.function_call_arguments.delta',
        item_id: functionCallItemId(item.id),
        output_index: item.index,
        delta: args,
      })
    );
  }

  delta(delta: DeltaEvent): string | undefined {
    let out = '';
    if (delta.content !== undefined && delta.content !== '') out += this.text(delta.content);
    for (const piece of delta.tool_calls ?? []) out += this.toolCall(piece);
    return out === '' ? undefined : out;
  }

  closing(answer: ApiSuccess): string {
    const response = toResponse(answer, this.call, this.created);
    const status = response.status === 'incomplete' ? 'incomplete' : 'completed';
    let out = '';
    // An answer with neither text nor calls still has its (empty) message item, as a plain one.
    if (this.items.length === 0 && response.output.some((item) => item.type === 'message')) {
      out += this.open({ kind: 'message', index: 0, text: '', done: false });
    }
    for (const item of this.items) out += this.close(item, status);
    return (
      out +
      this.event({ type: status === 'completed' ? 'response.completed' : 'response.incomplete', response })
    );
  }

  /** A failure after the stream started: an `error` event, then the response `failed` (OpenAI's terminal state). */
  error(code: ErrorCode, message: string): string {
    const output = this.items.map((item) => this.itemOf(item, 'incomplete'));
    const response: ResponseObject = {
      ...pendingResponse(this.call, this.requestId, this.created),
      status: 'failed',
      output,
      error: { code: responseErrorCodeOf(code), message },
    };
    return (
      this.event({ type: 'error', code, message, param: null }) +
      this.event({ type: 'response.failed', response })
    );
  }
}

/** The events of one streamed call, as the pipeline writes them; a replay is a fresh stream of the whole answer. */
export function responsesStreamEncoder(call: ParsedCall, requestId: string, created: number): StreamEncoder {
  const live = new ResponsesStream(call, requestId, created);
  return {
    opening: () => live.opening(),
    delta: (delta) => live.delta(delta),
    closing: (answer) => live.closing(answer),
    error: (code, message) => live.error(code, message),
    replay: (answer) => {
      const replayed = new ResponsesStream(call, answer.request_id, created);
      const { message } = chatChoiceOf(answer.response);
      return replayed.opening() + (replayed.delta(deltaOfMessage(message)) ?? '') + replayed.closing(answer);
    },
  };
}
