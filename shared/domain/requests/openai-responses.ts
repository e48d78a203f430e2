/**
 * POST /v1/responses (SPEC §3e): OpenAI's Responses API request (./responses-schema.ts) becomes
 * the same brain request as POST /v1/chat/completions (`operation_type: "chat"`, OpenAI's chat
 * fields in `request_params`): `instructions` a system message first, message items messages,
 * consecutive `function_call` items one assistant message with `tool_calls`, each
 * `function_call_output` a `tool` message. The brain's answer becomes a `response` object, or
 * the Responses server-sent events (`response.created` … `response.completed`) as the `openai`
 * SDK and the OpenAI Agents SDK assemble them. keygate keeps no conversation state and runs no
 * tools: what needs either is refused in the 400.
 */
import { type ErrorCode, type ErrorDetail, HttpError } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import type { DeltaEvent } from '../brain/stream.js';
import { issuesToDetails, maxStringLength } from '../validation.js';
import * as z from '../zod.js';
import { chatChoiceOf, chatUsageOf, splitModel } from './chat-completions.js';
import type { BrainMessage, ContentPart, ToolCall } from './openai-chat-schema.js';
import {
  REFUSED_RESPONSES_FIELDS,
  type ResponsesInputItem,
  type ResponsesMessagePart,
  type ResponsesRequest,
  responsesRequestSchema,
  UNSUPPORTED_RESPONSES_FIELDS,
} from './responses-schema.js';
import type { RequestFields } from './schema.js';
import {
  deltaOfMessage,
  firstProblemMessage,
  type ParsedCall,
  type StreamEncoder,
  type WireFormat,
} from './wire-format.js';

export { RESPONSES_PATH } from './paths.js';

/** The brain request holds at most this many messages (./schema.ts). */
const MAX_MESSAGES = 256;

/** A parsed Responses call: what the answer echoes beside the brain request's fields. */
export interface ResponsesCall extends ParsedCall {
  /** The request's `instructions`, echoed by the response object (null: none). */
  instructions: string | null;
}

const headerSchema = z.lazy(() => z.optional(z.string().check(z.minLength(1), ...maxStringLength(128))));

/** The fields we refuse, each named (a `null` is "absent"), before the schema's own issues. */
function refusedFields(body: unknown): ErrorDetail[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  const record = body as Record<string, unknown>;
  return UNSUPPORTED_RESPONSES_FIELDS.filter(
    (field) => Object.hasOwn(record, field) && record[field] !== null,
  ).map((field) => ({ path: field, message: `"${field}" ${fieldRefusal(field)}` }));
}

function fieldRefusal(field: keyof typeof REFUSED_RESPONSES_FIELDS): string {
  const why = REFUSED_RESPONSES_FIELDS[field];
  return why.startsWith('is ') ? why : `is not supported: ${why}`;
}

/** The text of a message's parts (text parts joined with a newline, as chat's are). */
function textOf(parts: readonly ResponsesMessagePart[]): string {
  return parts
    .flatMap((part) => {
      if (part.type === 'input_text' || part.type === 'output_text') return [part.text];
      if (part.type === 'refusal') return [part.refusal];
      return [];
    })
    .join('\n');
}

/** The parts in the brain's form, when they hold an image (else the text alone says it all). */
function brainPartsOf(parts: readonly ResponsesMessagePart[]): ContentPart[] | undefined {
  if (!parts.some((part) => part.type === 'input_image')) return undefined;
  return parts.map((part): ContentPart => {
    if (part.type === 'input_image') {
      return {
        type: 'image_url',
        image_url: { url: part.image_url ?? '', ...(part.detail == null ? {} : { detail: part.detail }) },
      };
    }
    return { type: 'text', text: part.type === 'refusal' ? part.refusal : part.text };
  });
}

/**
 * The conversation as the brain's messages: the instructions first, then the items in order;
 * a run of function calls (after the assistant's text, if any) is one assistant turn, as a
 * chat completion writes it; reasoning items are dropped (./responses-schema.ts says why).
 */
export function brainMessagesOf(
  instructions: string | null | undefined,
  input: string | readonly ResponsesInputItem[],
): BrainMessage[] {
  const messages: BrainMessage[] = [];
  if (instructions != null && instructions.length > 0)
    messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  for (const item of input) {
    if (item.type === 'message') {
      const parts = typeof item.content === 'string' ? undefined : item.content;
      const contentParts = parts === undefined ? undefined : brainPartsOf(parts);
      messages.push({
        // OpenAI's `developer` role is the newer name of `system`.
        role: item.role === 'developer' ? 'system' : item.role,
        content: parts === undefined ? (item.content as string) : textOf(parts),
        ...(contentParts === undefined ? {} : { content_parts: contentParts }),
      });
    } else if (item.type === 'function_call') {
      const call: ToolCall = {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && last.content_parts === undefined) {
        last.tool_calls = [...(last.tool_calls ?? []), call];
      } else {
        messages.push({ role: 'assistant', content: '', tool_calls: [call] });
      }
    } else if (item.type === 'function_call_output') {
      messages.push({
        role: 'tool',
        content:
          typeof item.output === 'string' ? item.output : item.output.map((part) => part.text).join('\n'),
        tool_call_id: item.call_id,
      });
    }
  }
  return messages;
}

/** The Responses fields the brain request carries in chat form (nulls are absent). */
function chatParamsOf(body: ResponsesRequest): Partial<RequestFields> {
  const tools = body.tools ?? [];
  const choice = body.tool_choice;
  const format = body.text?.format;
  const effort = body.reasoning?.effort;
  return {
    ...(tools.length === 0 ? {} : { tools }),
    ...(choice == null
      ? {}
      : {
          tool_choice:
            typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } },
        }),
    ...(body.parallel_tool_calls == null ? {} : { parallel_tool_calls: body.parallel_tool_calls }),
    ...(format == null ? {} : { response_format: format }),
    ...(effort == null ? {} : { reasoning_effort: effort }),
    ...(body.service_tier == null ? {} : { service_tier: body.service_tier }),
    ...(body.store == null ? {} : { store: body.store }),
    ...(body.prompt_cache_key == null ? {} : { prompt_cache_key: body.prompt_cache_key }),
    ...(body.safety_identifier == null ? {} : { safety_identifier: body.safety_identifier }),
  };
}

/**
 * Validates a Responses body and its keygate headers (`keygate-project-id`, `keygate-agent-id`,
 * which wins over `user`): the fields of one brain request, or every problem with the 400's
 * message naming the first (SDKs show only the message).
 */
export function parseResponses(
  body: unknown,
  headers: Readonly<Record<string, string | undefined>>,
): { ok: true; call: ResponsesCall } | { ok: false; details: ErrorDetail[]; message: string } {
  const details = refusedFields(body);
  const refused = new Set(details.map((detail) => detail.path));
  const parsed = responsesRequestSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    // A refused field is already named above, whatever the schema says of it.
    const issues = parsed.error.issues.filter(
      (issue) => !(issue.path.length === 1 && refused.has(String(issue.path[0]))),
    );
    details.push(...issuesToDetails(issues));
  }
  const projectId = headers['keygate-project-id'];
  const agentHeader = headers['keygate-agent-id'];
  for (const [name, value] of [
    ['Keygate-Project-Id', projectId],
    ['Keygate-Agent-Id', agentHeader],
  ] as const) {
    if (!headerSchema.safeParse(value).success)
      details.push({ path: name, message: 'must be 1-128 characters' });
  }
  const messages = parsed.success ? brainMessagesOf(parsed.data.instructions, parsed.data.input) : [];
  if (parsed.success && messages.length === 0) {
    details.push({ path: 'input', message: 'holds no message: send at least one message item' });
  } else if (messages.length > MAX_MESSAGES) {
    details.push({
      path: 'input',
      message: `makes ${messages.length} messages (instructions included); at most ${MAX_MESSAGES}`,
    });
  }
  if (details.length > 0 || !parsed.success)
    return { ok: false, details, message: firstProblemMessage(details) };

  const wire = parsed.data;
  const { provider, model } = splitModel(wire.model);
  const agentId = agentHeader ?? wire.user ?? undefined;
  const request: RequestFields = {
    provider,
    model,
    operation_type: 'chat',
    messages,
    ...(wire.temperature == null ? {} : { temperature: wire.temperature }),
    ...(wire.top_p == null ? {} : { top_p: wire.top_p }),
    ...(wire.max_output_tokens == null ? {} : { max_tokens: wire.max_output_tokens }),
    ...chatParamsOf(wire),
    ...(projectId === undefined ? {} : { project_id: projectId }),
    ...(agentId === undefined ? {} : { agent_id: agentId }),
    ...(wire.metadata == null ? {} : { metadata: wire.metadata }),
  };
  return {
    ok: true,
    call: {
      request,
      model: wire.model,
      stream: wire.stream === true,
      instructions: wire.instructions ?? null,
    },
  };
}

/** Scope refusals name the request's fields; on this route they are the model and a header. */
export function responsesPathOf(path: string): string {
  if (path === 'provider' || path === 'model') return 'model';
  if (path === 'project_id') return 'Keygate-Project-Id';
  if (path === 'agent_id') return 'Keygate-Agent-Id';
  return path;
}

// ---------------------------------------------------------------------------------------------
// The answer.

/** Token counts of a `response`, with the details OpenAI always sends (keygate knows of none). */
export interface ResponsesUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
}

export function responsesUsageOf(response: unknown): ResponsesUsage {
  const usage = chatUsageOf(response);
  return {
    input_tokens: usage.prompt_tokens,
    output_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
}

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface OutputTextPart {
  type: 'output_text';
  text: string;
  annotations: never[];
}
export interface MessageOutputItem {
  type: 'message';
  id: string;
  status: ItemStatus;
  role: 'assistant';
  content: OutputTextPart[];
}
export interface FunctionCallOutputItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ItemStatus;
}
export type ResponsesOutputItem = MessageOutputItem | FunctionCallOutputItem;

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** A `response` object as the `openai` SDK types it (`Response`), with keygate's own part. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  model: string;
  output: ResponsesOutputItem[];
  usage: ResponsesUsage | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  metadata: Record<string, unknown>;
  parallel_tool_calls: boolean;
  tool_choice: unknown;
  tools: unknown[];
  temperature: number | null;
  top_p: number | null;
  max_output_tokens: number | null;
  text: { format: unknown };
  store: false;
  keygate?: { request_id: string; decision: unknown; payment: unknown };
}

const messageItemId = (requestId: string) => `msg_${requestId}`;
const functionCallItemId = (callId: string) => `fc_${callId}`;

function messageItem(requestId: string, text: string, status: ItemStatus): MessageOutputItem {
  return {
    type: 'message',
    id: messageItemId(requestId),
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

function functionCallItem(call: ToolCall, status: ItemStatus): FunctionCallOutputItem {
  return {
    type: 'function_call',
    id: functionCallItemId(call.id),
    call_id: call.id,
    name: call.function.name,
    arguments: call.function.arguments,
    status,
  };
}

/** What a response echoes of its request, as OpenAI's does (the brain request's chat form back in Responses form). */
function echoOf(call: ParsedCall) {
  const request = call.request;
  const choice = request.tool_choice;
  const format = request.response_format;
  return {
    instructions: 'instructions' in call && typeof call.instructions === 'string' ? call.instructions : null,
    metadata: request.metadata ?? {},
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    tool_choice:
      choice === undefined
        ? 'auto'
        : typeof choice === 'string'
          ? choice
          : { type: 'function', name: choice.function.name },
    tools: (request.tools ?? []).map((tool) => ({
      type: 'function',
      name: tool.function.name,
      description: tool.function.description ?? null,
      parameters: tool.function.parameters ?? null,
      strict: tool.function.strict ?? null,
    })),
    temperature: request.temperature ?? null,
    top_p: request.top_p ?? null,
    max_output_tokens: request.max_tokens ?? null,
    text: {
      format:
        format === undefined
          ? { type: 'text' }
          : format.type === 'json_schema'
            ? { type: 'json_schema', ...format.json_schema }
            : format,
    },
    store: false as const,
  };
}

/** A response whose output is still to come (`response.created`, `response.in_progress`). */
function pendingResponse(call: ParsedCall, requestId: string, created: number): ResponseObject {
  return {
    id: `resp_${requestId}`,
    object: 'response',
    created_at: created,
    status: 'in_progress',
    model: call.model,
    output: [],
    usage: null,
    error: null,
    incomplete_details: null,
    ...echoOf(call),
  };
}

/** A finish reason that cut the answer short, as the Responses API says it. */
function incompleteReasonOf(finishReason: string): 'max_output_tokens' | 'content_filter' | undefined {
  if (finishReason === 'length') return 'max_output_tokens';
  if (finishReason === 'content_filter') return 'content_filter';
  return undefined;
}

function approved(answer: ApiSuccess): void {
  if (!answer.success || answer.decision.outcome !== 'approved') {
    throw new HttpError(
      'forbidden',
      answer.message || `The brain did not approve this request (${answer.decision.outcome}).`,
    );
  }
}

/**
 * An approved decision as a `response` object: a message item with the text (when there is
 * text, or nothing else), then one `function_call` item per tool call; a finish reason
 * `length` makes it `incomplete`. Any other decision is a 403 with the brain's message.
 */
export function toResponse(answer: ApiSuccess, call: ParsedCall, created: number): ResponseObject {
  approved(answer);
  const { message, finish_reason } = chatChoiceOf(answer.response);
  const reason = incompleteReasonOf(finish_reason);
  const status = reason === undefined ? 'completed' : 'incomplete';
  const calls = message.tool_calls ?? [];
  const text = message.content ?? '';
  return {
    ...pendingResponse(call, answer.request_id, created),
    status,
    output: [
      ...(text.length > 0 || calls.length === 0 ? [messageItem(answer.request_id, text, status)] : []),
      ...calls.map((toolCall) => functionCallItem(toolCall, status)),
    ],
    usage: responsesUsageOf(answer.response),
    incomplete_details: reason === undefined ? null : { reason },
    keygate: { request_id: answer.request_id, decision: answer.decision, payment: answer.payment },
  };
}

// ---------------------------------------------------------------------------------------------
// The stream.

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

/** POST /v1/responses as a wire format of the one pipeline (./process.ts). */
export const responsesFormat: WireFormat = {
  parse: (body, headers) => parseResponses(body, headers),
  pathOf: responsesPathOf,
  present: (answer, call, created) => toResponse(answer, call, created),
  encoder: responsesStreamEncoder,
};
