import { describe, expect, it } from 'vitest';
import { chatFormOf, chatFormOfAnthropic } from '../../../../shared/domain/requests/anthropic-chat-form.js';

describe('chatFormOfAnthropic', () => {
  it('system first, text blocks joined, images as image_url parts', () => {
    const chat = chatFormOfAnthropic({
      format: 'anthropic',
      system: [
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/x.png' } },
          ],
        },
      ],
      max_tokens: 5,
      temperature: 0.2,
      top_p: 0.5,
      stop_sequences: ['END'],
    });
    expect(chat).toEqual({
      messages: [
        { role: 'system', content: 'a\nb' },
        {
          role: 'user',
          content: 'look',
          content_parts: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'https://example.com/x.png' } },
          ],
        },
      ],
      max_tokens: 5,
      temperature: 0.2,
      top_p: 0.5,
      stop: ['END'],
    });
  });

  it('tool_use → tool_calls, tool_result → tool messages, tools and tool_choice in OpenAI’s form', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } } };
    const chat = chatFormOfAnthropic({
      format: 'anthropic',
      messages: [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'sunny' }] },
            { type: 'text', text: 'thanks' },
          ],
        },
      ],
      tools: [{ name: 'get_weather', description: 'weather', input_schema: schema }],
      tool_choice: { type: 'tool', name: 'get_weather' },
    });
    expect(chat.messages).toEqual([
      { role: 'user', content: 'Weather?' },
      {
        role: 'assistant',
        content: 'Looking',
        tool_calls: [
          {
            id: 'toolu_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
      { role: 'user', content: 'thanks' },
    ]);
    expect(chat.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: schema } },
    ]);
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
  });

  it('tool_choice auto/any/none', () => {
    const base = { format: 'anthropic' as const, messages: [{ role: 'user' as const, content: 'x' }] };
    expect(chatFormOfAnthropic({ ...base, tool_choice: { type: 'auto' } }).tool_choice).toBe('auto');
    expect(chatFormOfAnthropic({ ...base, tool_choice: { type: 'any' } }).tool_choice).toBe('required');
    expect(chatFormOfAnthropic({ ...base, tool_choice: { type: 'none' } }).tool_choice).toBe('none');
  });

  it('chatFormOf leaves the chat form as it is', () => {
    const chat = { messages: [{ role: 'user' as const, content: 'x' }] };
    expect(chatFormOf(chat)).toBe(chat);
  });
});
