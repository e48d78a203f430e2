import { describe, expect, it } from 'vitest';
import { estimateInputTokens } from '../../../../shared/domain/brain/token-estimate.js';

describe('estimateInputTokens', () => {
  it('~4 characters per token of prompt, message text and role; at least 1', () => {
    expect(estimateInputTokens({ prompt: 'x'.repeat(400) })).toBe(100);
    expect(estimateInputTokens({ messages: [{ role: 'user', content: 'abcdefgh' }] })).toBe(3);
    expect(estimateInputTokens({})).toBe(1);
  });

  it('counts tool calls and tools as their JSON, an image as 85 tokens', () => {
    const toolCalls = [{ id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
    const tools = [{ type: 'function' as const, function: { name: 'f' } }];
    const withCalls = estimateInputTokens({
      messages: [{ role: 'assistant', content: '', tool_calls: toolCalls }],
      tools,
    });
    expect(withCalls).toBe(
      Math.ceil(('assistant'.length + JSON.stringify(toolCalls).length + JSON.stringify(tools).length) / 4),
    );
    const image = estimateInputTokens({
      messages: [
        {
          role: 'user',
          content: '',
          content_parts: [{ type: 'image_url', image_url: { url: 'https://x' } }],
        },
      ],
    });
    expect(image).toBe(Math.ceil((4 + 85 * 4) / 4));
  });
});
