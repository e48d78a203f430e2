/**
 * An Anthropic request's chat form (SPEC §3d): the same conversation as the brain's chat-form
 * `request_params` (OpenAI's shapes), so scopes, logs, the token estimate and a brain that
 * reads only the chat form all see plain messages.
 */
import { type BrainRequest, type ChatRequestParams, isAnthropicParams } from '../brain/contract.js';
import type { AnthropicContentBlock, AnthropicParams } from './anthropic-schema.js';
import type { BrainMessage, ContentPart, ToolCall } from './openai-chat-schema.js';

type ImageBlock = Extract<AnthropicContentBlock, { type: 'image' }>;
type TextOrImage = Extract<AnthropicContentBlock, { type: 'text' | 'image' }>;

function imagePartOf(block: ImageBlock): ContentPart {
  const url =
    block.source.type === 'base64'
      ? `data:${block.source.media_type};base64,${block.source.data}`
      : block.source.url;
  return { type: 'image_url', image_url: { url } };
}

/** Text and image blocks as one message's `content` (texts joined) and its parts when an image is among them. */
function contentOf(blocks: readonly TextOrImage[]): Pick<BrainMessage, 'content' | 'content_parts'> {
  const content = blocks.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  if (!blocks.some((block) => block.type === 'image')) return { content };
  return {
    content,
    content_parts: blocks.map((block) =>
      block.type === 'text' ? { type: 'text', text: block.text } : imagePartOf(block),
    ),
  };
}

function messagesOf(message: AnthropicParams['messages'][number]): BrainMessage[] {
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  const out: BrainMessage[] = [];
  // Tool results first: OpenAI's `tool` messages must follow the assistant's calls directly.
  for (const block of message.content) {
    if (block.type !== 'tool_result') continue;
    const result = block.content;
    out.push({
      role: 'tool',
      tool_call_id: block.tool_use_id,
      content: typeof result === 'string' ? result : contentOf(result ?? []).content,
    });
  }
  const parts = message.content.filter(
    (block): block is TextOrImage => block.type === 'text' || block.type === 'image',
  );
  const toolCalls: ToolCall[] = message.content.flatMap((block) =>
    block.type === 'tool_use'
      ? [
          {
            id: block.id,
            type: 'function' as const,
            function: { name: block.name, arguments: JSON.stringify(block.input) },
          },
        ]
      : [],
  );
  if (parts.length > 0 || toolCalls.length > 0) {
    out.push({
      role: message.role,
      ...contentOf(parts),
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    });
  }
  return out;
}

function toolChoiceOf(choice: NonNullable<AnthropicParams['tool_choice']>): ChatRequestParams['tool_choice'] {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
  }
}

/** The chat-form `request_params` of an Anthropic request. */
export function chatFormOfAnthropic(params: AnthropicParams): ChatRequestParams {
  const messages: BrainMessage[] = [];
  if (params.system !== undefined) {
    const system =
      typeof params.system === 'string' ? params.system : params.system.map((block) => block.text).join('\n');
    messages.push({ role: 'system', content: system });
  }
  for (const message of params.messages) messages.push(...messagesOf(message));
  const chat: ChatRequestParams = { messages };
  if (params.max_tokens !== undefined) chat.max_tokens = params.max_tokens;
  if (params.temperature !== undefined) chat.temperature = params.temperature;
  if (params.top_p !== undefined) chat.top_p = params.top_p;
  if (params.stop_sequences !== undefined && params.stop_sequences.length > 0)
    chat.stop = params.stop_sequences;
  if (params.tools !== undefined && params.tools.length > 0) {
    chat.tools = params.tools.map((tool) => ({
      type: 'function',
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.input_schema,
      },
    }));
  }
  if (params.tool_choice !== undefined) chat.tool_choice = toolChoiceOf(params.tool_choice);
  return chat;
}

/** Any brain request's params in the chat form: Anthropic's converted, the chat form as it is. */
export function chatFormOf(params: BrainRequest['request_params']): ChatRequestParams {
  return isAnthropicParams(params) ? chatFormOfAnthropic(params) : params;
}
