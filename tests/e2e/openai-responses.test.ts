/**
 * POST /v1/responses (SPEC §3e) as Responses API clients use it: the official `openai`
 * package, unchanged, over HTTPS against the local stack — `client.responses.create` plain and
 * streamed, a function-call round trip (function_call → function_call_output → answer), and
 * the refusals of what keygate does not keep or run (previous_response_id, built-in tools).
 */
import OpenAI, { APIError } from 'openai';
import type { FunctionTool, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { refusalOf, useKeyedStack } from './support/keyed-stack.js';
import { openaiClient } from './support/openai.js';

// The real reference brain, its invocations counted by user: it acts once per admitted call.
const e2e = useKeyedStack({}, { countedBrain: true });
const brainCallsOf = (userId: string) => e2e.brain.callsOf(userId).length;
const { keyWith } = e2e;

function sdk(apiKey: string): OpenAI {
  const made = openaiClient(e2e.stack, apiKey);
  e2e.closeWithStack(made.close);
  return made.client;
}

const WEATHER: FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

const refusal = (call: Promise<unknown>) => refusalOf(APIError, call);

describe('responses.create', () => {
  it('a string input: a completed response with output_text and usage; counted on the key', async () => {
    const key = await keyWith('plain');
    const response = await sdk(key.apiKey).responses.create({
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      input: 'Say hello to keygate.',
      store: false,
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.output[0]?.type).toBe('message');
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(1);
    expect(brainCallsOf(key.userId)).toBe(1);
  });

  it('stream: true — the Responses events in order; text deltas joined equal the plain answer', async () => {
    const key = await keyWith('stream');
    const client = sdk(key.apiKey);
    const plain = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Stream hello.',
      store: false,
    });
    const events: ResponseStreamEvent[] = [];
    for await (const event of await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Stream hello.',
      store: false,
      stream: true,
    }))
      events.push(event);

    expect(events[0]?.type).toBe('response.created');
    expect(events.at(-1)?.type).toBe('response.completed');
    const deltas = events.flatMap((event) =>
      event.type === 'response.output_text.delta' ? [event.delta] : [],
    );
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(plain.output_text);
    const numbers = events.map((event) => event.sequence_number);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    const completed = events.at(-1);
    if (completed?.type !== 'response.completed') throw new Error('no response.completed');
    expect(completed.response.usage?.output_tokens).toBe(plain.usage?.output_tokens);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
    expect(brainCallsOf(key.userId)).toBe(2);
  });

  it('responses.stream().finalResponse() assembles the same text', async () => {
    const client = sdk((await keyWith('final')).apiKey);
    const plain = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Assemble me.',
      store: false,
    });
    const final = await client.responses
      .stream({ model: 'gpt-4o-mini', input: 'Assemble me.', store: false })
      .finalResponse();
    expect(final.output_text).toBe(plain.output_text);
  });
});

describe('function calling', () => {
  it('round trip: function_call → function_call_output → an answer quoting it, streamed and not', async () => {
    const key = await keyWith('tools');
    const client = sdk(key.apiKey);
    const ask = { role: 'user' as const, content: 'What is the weather in Paris?' };
    const first = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [ask],
      tools: [WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
      store: false,
    });
    const call = first.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function_call item');
    expect(call.name).toBe('get_weather');
    expect(JSON.parse(call.arguments)).toMatchObject({ city: expect.any(String) });

    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        ask,
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '21 degrees and sunny' },
      ],
      tools: [WEATHER],
      store: false,
    });
    expect(second.output_text).toContain('21 degrees and sunny');

    const streamed = await client.responses
      .stream({ model: 'reference/test-tools', input: [ask], tools: [WEATHER], store: false })
      .finalResponse();
    expect(streamed.output.find((item) => item.type === 'function_call')).toMatchObject({
      type: 'function_call',
      name: 'get_weather',
    });
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(3);
    expect(brainCallsOf(key.userId)).toBe(3);
  });
});

describe('what keygate does not keep or run', () => {
  it('previous_response_id and built-in tools → 400 naming them; nothing counted against the brain', async () => {
    const client = sdk((await keyWith('refused')).apiKey);
    const previous = await refusal(
      client.responses.create({ model: 'gpt-4o-mini', input: 'More.', previous_response_id: 'resp_123' }),
    );
    expect(previous).toBeInstanceOf(OpenAI.BadRequestError);
    expect(previous.message).toContain('previous_response_id');
    expect(previous.headers?.get('x-should-retry')).toBe('false');

    const search = await refusal(
      client.responses.create({ model: 'gpt-4o-mini', input: 'Search.', tools: [{ type: 'web_search' }] }),
    );
    expect(search).toBeInstanceOf(OpenAI.BadRequestError);
    expect(search.message).toMatch(/web_search/);
  });

  it("refusals before the brain keep the SDK's classes: 401, 403, 429", async () => {
    const unknown = await refusal(
      sdk(`kg_test_${'A'.repeat(49)}`).responses.create({ model: 'gpt-4o-mini', input: 'Hi.' }),
    );
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);

    const scoped = sdk((await keyWith('scoped', { scopes: { providers: ['anthropic'] } })).apiKey);
    const forbidden = await refusal(
      scoped.responses.create({ model: 'gpt-4o-mini', input: 'Hi.', store: false }),
    );
    expect(forbidden).toBeInstanceOf(OpenAI.PermissionDeniedError);

    const limited = sdk((await keyWith('limited', { rateLimit: { limit: 1, windowSeconds: 60 } })).apiKey);
    await limited.responses.create({ model: 'gpt-4o-mini', input: 'Hi.', store: false });
    const spent = await refusal(
      limited.responses.create({ model: 'gpt-4o-mini', input: 'Hi.', store: false }),
    );
    expect(spent).toBeInstanceOf(OpenAI.RateLimitError);
  });
});
