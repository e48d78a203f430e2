/**
 * The reference brain's input-token estimate (SPEC §4), also POST /v1/messages/count_tokens's
 * answer (SPEC §3d): ~4 characters per token, the usual rule of thumb for English text; tools
 * and tool calls count as their JSON, an image as OpenAI's low-detail 85 tokens.
 */
import type { ChatRequestParams } from './contract.js';

const IMAGE_CHARACTERS = 85 * 4;

export function estimateInputTokens(params: ChatRequestParams): number {
  let characters = params.prompt?.length ?? 0;
  for (const message of params.messages ?? []) {
    characters += message.content.length + message.role.length;
    if (message.tool_calls) characters += JSON.stringify(message.tool_calls).length;
    for (const part of message.content_parts ?? []) {
      if (part.type === 'image_url') characters += IMAGE_CHARACTERS;
    }
  }
  if (params.tools) characters += JSON.stringify(params.tools).length;
  return Math.max(1, Math.ceil(characters / 4));
}
