/**
 * POST /v1/messages and /v1/messages/count_tokens (SPEC §3d) as Anthropic SDK programs and
 * Claude-Code style agents use them: the official `@anthropic-ai/sdk`, unchanged, over HTTPS
 * against the local stack with the base URL and the key changed, nothing else. Plain calls,
 * `messages.stream`, a tool-use round trip (plain and streamed), `countTokens` (not counted),
 * and the SDK's own error classes for 400/401/403/429 from Anthropic-shaped errors.
 */
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { describe, expect, it } from 'vitest';
import { anthropicClient } from './support/anthropic.js';
import { refusalOf, useKeyedStack } from './support/keyed-stack.js';

// The real reference brain, its invocations counted by user: it acts once per admitted call.
const e2e = useKeyedStack({}, { countedBrain: true });
const brainCallsOf = (userId: string) => e2e.brain.callsOf(userId).length;
const { keyWith } = e2e;

function sdk(apiKey: string, options: { authToken?: boolean } = {}): Anthropic {
  const made = anthropicClient(e2e.stack, apiKey, options);
  e2e.closeWithStack(made.close);
  return made.client;
}

const MODEL = 'claude-sonnet-4';
const HELLO: MessageParam[] = [{ role: 'user', content: 'Say hello to keygate.' }];

const WEATHER: Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'],
  },
};

const refusal = (call: Promise<unknown>) => refusalOf(APIError, call);

const textOf = (message: Anthropic.Message) =>
  message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');

describe('messages.create', () => {
  it('answers an Anthropic message: msg_ id, a text block, end_turn, usage; counted on the key', async () => {
    const key = await keyWith('plain');
    const message = await sdk(key.apiKey).messages.create({ model: MODEL, max_tokens: 256, messages: HELLO });

    expect(message.id).toMatch(/^msg_/);
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.content[0]?.type).toBe('text');
    expect(textOf(message).length).toBeGreaterThan(0);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    // The SDK's request id (its `request-id` header) is the call's, as in the message id.
    expect(message.id).toBe(`msg_${message._request_id}`);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(1);
    expect(brainCallsOf(key.userId)).toBe(1);
  });

  it('takes the key as Authorization: Bearer too (authToken), a system prompt and the sampling fields', async () => {
    const key = await keyWith('bearer');
    // SPEC §3d's sampling fields, which this SDK version's types no longer list but still sends.
    const sampling = { temperature: 0.2, top_p: 0.9, top_k: 40 };
    const message = await sdk(key.apiKey, { authToken: true }).messages.create({
      model: `anthropic/${MODEL}`,
      max_tokens: 64,
      system: [{ type: 'text', text: 'You are terse.' }],
      stop_sequences: ['\n\n'],
      metadata: { user_id: 'agent-7' },
      messages: HELLO,
      ...sampling,
    } as Anthropic.MessageCreateParamsNonStreaming);
    expect(message.model).toBe(`anthropic/${MODEL}`);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(1);
  });
});

describe('messages.stream', () => {
  it('streams the same text as the plain call, with the final usage; both calls counted', async () => {
    const key = await keyWith('stream');
    const client = sdk(key.apiKey);
    const plain = await client.messages.create({ model: MODEL, max_tokens: 256, messages: HELLO });
    const stream = client.messages.stream({ model: MODEL, max_tokens: 256, messages: HELLO });
    let streamed = '';
    stream.on('text', (text) => {
      streamed += text;
    });
    const final = await stream.finalMessage();

    expect(streamed).toBe(textOf(plain));
    expect(textOf(final)).toBe(textOf(plain));
    expect(final.id).toMatch(/^msg_/);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(plain.usage.output_tokens);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
    // One brain invocation each: the streamed call is not a second decision or payment.
    expect(brainCallsOf(key.userId)).toBe(2);
  });

  it('a failure mid-stream (reference/test-stream-error) is an error the SDK raises', async () => {
    const client = sdk((await keyWith('broken')).apiKey);
    const stream = client.messages.stream({
      model: 'reference/test-stream-error',
      max_tokens: 64,
      messages: HELLO,
    });
    const failure = await stream.finalMessage().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).message)).toMatch(/brain|error/i);
  });
});

describe('tool use', () => {
  it('round trip: tool_use with valid input → tool_result → a final answer that quotes it', async () => {
    const key = await keyWith('tools');
    const client = sdk(key.apiKey);
    const ask: MessageParam = { role: 'user', content: 'What is the weather in Paris?' };
    const first = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [ask],
    });
    expect(first.stop_reason).toBe('tool_use');
    const toolUse = first.content.find((block) => block.type === 'tool_use');
    if (toolUse?.type !== 'tool_use') throw new Error('no tool_use block');
    expect(toolUse.name).toBe('get_weather');
    expect(toolUse.input).toMatchObject({
      city: expect.any(String),
      unit: expect.stringMatching(/celsius|fahrenheit/),
    });

    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER],
      messages: [
        ask,
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '21 degrees and sunny' }],
        },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(textOf(second)).toContain('21 degrees and sunny');
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
  });

  it('streamed: reference/test-tools calls the first tool; the SDK assembles the tool_use block', async () => {
    const client = sdk((await keyWith('tools-stream')).apiKey);
    const final = await client.messages
      .stream({
        model: 'reference/test-tools',
        max_tokens: 256,
        tools: [WEATHER],
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      })
      .finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    const toolUse = final.content.find((block) => block.type === 'tool_use');
    expect(toolUse).toMatchObject({
      type: 'tool_use',
      name: 'get_weather',
      input: { city: expect.any(String) },
    });
  });
});

describe('messages.countTokens', () => {
  it('answers input_tokens without a brain call, and the call is not counted', async () => {
    const key = await keyWith('count');
    const client = sdk(key.apiKey);
    const counted = await client.messages.countTokens({ model: MODEL, messages: HELLO, tools: [WEATHER] });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const shorter = await client.messages.countTokens({ model: MODEL, messages: HELLO });
    expect(shorter.input_tokens).toBeLessThan(counted.input_tokens);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(0);
    expect(brainCallsOf(key.userId)).toBe(0);
  });

  it('refuses a revoked key with 401, as every route does', async () => {
    const key = await keyWith('count-revoked');
    await e2e.admin.expectOk({ action: 'revoke', userId: key.userId, keyId: key.keyId });
    const refused = await refusal(sdk(key.apiKey).messages.countTokens({ model: MODEL, messages: HELLO }));
    expect(refused).toBeInstanceOf(Anthropic.AuthenticationError);
  });
});

describe('models.list', () => {
  it("lists the key's models in Anthropic's shape, ids as messages.create takes them; counted like GET /v1/models", async () => {
    const key = await keyWith('models', { scopes: { providers: ['anthropic'] } });
    const client = sdk(key.apiKey);
    const models = [];
    for await (const model of client.models.list()) models.push(model);

    expect(models.length).toBeGreaterThan(0);
    for (const model of models) {
      expect(model.type).toBe('model');
      // Provider anthropic, written bare as Anthropic writes its models.
      expect(model.id).not.toContain('/');
      expect(model.display_name).toBe(model.id);
      expect(Number.isNaN(Date.parse(model.created_at))).toBe(false);
    }
    const [first] = models;
    if (!first) throw new Error('no model listed');
    const message = await client.messages.create({ model: first.id, max_tokens: 32, messages: HELLO });
    expect(message.model).toBe(first.id);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
  });
});

describe("errors in Anthropic's shape, raised as the SDK's own classes", () => {
  it('400 BadRequestError naming the field', async () => {
    const client = sdk((await keyWith('bad')).apiKey);
    const bad = await refusal(
      client.messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: HELLO,
        not_a_field: true,
      } as Anthropic.MessageCreateParamsNonStreaming),
    );
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
    expect(bad.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(bad.message).toContain('not_a_field');
    expect(bad.requestID).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("401 AuthenticationError from the authorizer's refusal, in Anthropic's shape", async () => {
    const unknown = await refusal(
      sdk(`kg_test_${'A'.repeat(49)}`).messages.create({ model: MODEL, max_tokens: 64, messages: HELLO }),
    );
    expect(unknown).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(unknown.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('403 PermissionDeniedError outside the key scopes, and for a rejected request', async () => {
    const scoped = sdk((await keyWith('scoped', { scopes: { providers: ['openai'] } })).apiKey);
    const forbidden = await refusal(
      scoped.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO }),
    );
    expect(forbidden).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(forbidden.error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(forbidden.message).toContain('model');

    const open = sdk((await keyWith('rejected')).apiKey);
    const rejected = await refusal(
      open.messages.create({ model: 'reference/test-reject', max_tokens: 64, messages: HELLO }),
    );
    expect(rejected).toBeInstanceOf(Anthropic.PermissionDeniedError);
  });

  it('429 RateLimitError over the rate limit, with Retry-After', async () => {
    const limited = sdk((await keyWith('limited', { rateLimit: { limit: 1, windowSeconds: 60 } })).apiKey);
    await limited.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO });
    const spent = await refusal(limited.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO }));
    expect(spent).toBeInstanceOf(Anthropic.RateLimitError);
    expect(spent.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(spent.headers?.get('retry-after')).toMatch(/^\d+$/);
    expect(spent.headers?.get('x-should-retry')).toBe('true');
  });
});
