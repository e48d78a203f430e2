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
import type { ErrorDetail } from '../../errors.js';
import { issuesToDetails } from '../validation.js';
import { splitModel } from './chat-completions.js';
import type { BrainMessage, ContentPart, ToolCall } from './openai-chat-schema.js';
import { toResponse } from './responses-answer.js';
import {
  REFUSED_RESPONSES_FIELDS,
  type ResponsesInputItem,
  type ResponsesMessagePart,
  type ResponsesRequest,
  responsesRequestSchema,
  UNSUPPORTED_RESPONSES_FIELDS,
} from './responses-schema.js';
import { responsesStreamEncoder } from './responses-stream.js';
import type { RequestFields } from './schema.js';
import {
  firstProblemMessage,
  keygateHeaderDetails,
  type ParsedCall,
  refusedFieldDetails,
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
  const details = refusedFieldDetails(body, UNSUPPORTED_RESPONSES_FIELDS, fieldRefusal);
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
  details.push(...keygateHeaderDetails(projectId, agentHeader));
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

/** POST /v1/responses as a wire format of the one pipeline (./process.ts). */
export const responsesFormat: WireFormat = {
  parse: (body, headers) => parseResponses(body, headers),
  pathOf: responsesPathOf,
  present: (answer, call, created) => toResponse(answer, call, created),
  encoder: responsesStreamEncoder,
};
