/**
 * The `response` object of POST /v1/responses (SPEC §3e) as the `openai` SDK types it: its
 * output items (a message with output_text, function calls), usage and status, built from the
 * brain's approved answer; ./responses-stream.ts builds the same objects event by event.
 */
import { HttpError } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import { chatChoiceOf, chatUsageOf } from './chat-completions.js';
import type { ToolCall } from './openai-chat-schema.js';
import type { ParsedCall } from './wire-format.js';

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

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

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

export const messageItemId = (requestId: string) => `msg_${requestId}`;
export const functionCallItemId = (callId: string) => `fc_${callId}`;

export function messageItem(requestId: string, text: string, status: ItemStatus): MessageOutputItem {
  return {
    type: 'message',
    id: messageItemId(requestId),
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

export function functionCallItem(call: ToolCall, status: ItemStatus): FunctionCallOutputItem {
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
export function pendingResponse(call: ParsedCall, requestId: string, created: number): ResponseObject {
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
