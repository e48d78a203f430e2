/**
 * The reference brain answers an Anthropic-format request (SPEC §3d) exactly as its chat form:
 * a deterministic tool_use for test-tools or a tool choice, and an answer quoting tool_result
 * blocks; keygate's present then turns its response into Anthropic's message.
 */
import { describe, expect, it } from 'vitest';
import { estimateInputTokens, referenceBrain } from '../../../../functions/reference-brain/brain.js';
import { referenceBrainEvents } from '../../../../functions/reference-brain/events.js';
import { type ApiSuccess, brainDecisionAnswerSchema } from '../../../../shared/domain/brain/contract.js';
import { chatFormOfAnthropic } from '../../../../shared/domain/requests/anthropic-chat-form.js';
import { anthropicMessagesFormat } from '../../../../shared/domain/requests/anthropic-messages.js';
import type { AnthropicParams } from '../../../../shared/domain/requests/anthropic-schema.js';
import { type CallerIdentity, toBrainRequest } from '../../../../shared/domain/requests/transform.js';
import { brainRequest } from '../../../support/brain.js';

const CALLER: CallerIdentity = {
  userId: 'user-1',
  keyId: 'key_1',
  projectId: 'proj-1',
  scopes: [],
} as unknown as CallerIdentity;
const WEATHER = {
  name: 'get_weather',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function anthropicRequest(body: Record<string, unknown>, requestId = 'req-a1') {
  const parsed = anthropicMessagesFormat.parse(body, {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.details));
  return { call: parsed.call, request: toBrainRequest(parsed.call.request, CALLER, requestId) };
}

async function answerOf(body: Record<string, unknown>) {
  const { call, request } = anthropicRequest(body);
  const answer = brainDecisionAnswerSchema.parse(await referenceBrain(request));
  const withId: ApiSuccess = { ...answer, request_id: request.request_id };
  return {
    request,
    answer,
    message: anthropicMessagesFormat.present(withId, call, 0) as Record<string, unknown>,
  };
}

describe('the reference brain on an Anthropic request', () => {
  it('the brain request carries the Anthropic params, valid for the contract', () => {
    const { request } = anthropicRequest({
      model: 'reference/test-tools',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    expect(request.request_params).toMatchObject({ format: 'anthropic', max_tokens: 64 });
    expect(request.api_provider).toBe('reference');
  });

  it('test-tools answers a deterministic tool_use with input valid for its schema', async () => {
    const body = {
      model: 'reference/test-tools',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [WEATHER],
    };
    const first = await answerOf(body);
    const second = await answerOf(body);
    expect(first.message.stop_reason).toBe('tool_use');
    expect(first.message.content).toEqual([
      { type: 'tool_use', id: expect.any(String), name: 'get_weather', input: { city: 'reference' } },
    ]);
    expect(second.message.content).toEqual(first.message.content);
  });

  it('a tool_choice naming a tool makes any allowed model call it', async () => {
    const { message } = await answerOf({
      model: 'claude-sonnet-4',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [{ name: 'get_time', input_schema: { type: 'object' } }, WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather' },
    });
    expect((message.content as Array<{ name: string }>)[0]?.name).toBe('get_weather');
  });

  it('after tool_result blocks, an answer quoting them (the tool_use id recognised)', async () => {
    const first = await answerOf({
      model: 'reference/test-tools',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [WEATHER],
    });
    const toolUse = (first.message.content as Array<{ id: string }>)[0];
    const { message } = await answerOf({
      model: 'reference/test-tools',
      max_tokens: 64,
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.message.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: toolUse?.id, content: 'sunny, 21°C' }],
        },
      ],
    });
    expect(message.stop_reason).toBe('end_turn');
    expect(message.content).toEqual([
      {
        type: 'text',
        text: 'Reference brain answer for test-tools: the tool get_weather returned: sunny, 21°C',
      },
    ]);
  });

  it('estimates tokens on the chat form, the same as a chat request with the same conversation', () => {
    const params: AnthropicParams = {
      format: 'anthropic',
      system: 'Be brief',
      messages: [{ role: 'user', content: 'Hello there' }],
      max_tokens: 10,
    };
    const anthropic = brainRequest({ request_params: params });
    const chat = brainRequest({ request_params: chatFormOfAnthropic(params) });
    expect(estimateInputTokens(anthropic)).toBe(estimateInputTokens(chat));
  });

  it('streams an Anthropic request as its chat form would', async () => {
    const { request } = anthropicRequest({
      model: 'reference/test-tools',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [WEATHER],
    });
    const events = [];
    for await (const event of referenceBrainEvents(request, { paceMs: 0 })) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'final', finish_reason: 'tool_calls' });
  });
});
