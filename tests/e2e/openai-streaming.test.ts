/**
 * Streaming and tool calls on POST /v1/chat/completions (SPEC §3b) as agents use them: the
 * official `openai` package, unchanged, over HTTPS against the local stack, whose API streams
 * the requests function's answer (Lambda response streaming emulated) and whose requests
 * function invokes the reference brain with InvokeWithResponseStream. Every streamed call is
 * counted, limited and idempotent like a plain one; a client that leaves mid-stream is still
 * counted once and its budget settled.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { refusalOf, useKeyedStack } from './support/keyed-stack.js';
import { openaiClient } from './support/openai.js';

const e2e = useKeyedStack();
const { keyWith } = e2e;

function sdk(apiKey: string): OpenAI {
  const made = openaiClient(e2e.stack, apiKey);
  e2e.closeWithStack(made.close);
  return made.client;
}

const HELLO: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hello to keygate, streaming.' }];

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};

const refusal = (call: Promise<unknown>) => refusalOf(APIError, call);

describe('stream: true', () => {
  it('for await over the stream: role first, content joined equals the plain answer, finish_reason stop', async () => {
    const key = await keyWith('stream');
    const client = sdk(key.apiKey);
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: HELLO,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]?.id).toMatch(/^chatcmpl-/);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    const joined = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(joined).toBe(plain.choices[0]?.message.content);
    // Both calls counted, as every admitted call is.
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
  });

  it('stream_options.include_usage: a final chunk with empty choices and the usage', async () => {
    const client = sdk((await keyWith('usage')).apiKey);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: HELLO,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.total_tokens).toBeGreaterThan(0);
    expect(last?.usage?.total_tokens).toBe(
      (last?.usage?.prompt_tokens ?? 0) + (last?.usage?.completion_tokens ?? 0),
    );
  });

  it('finalChatCompletion() of the SDK assembles the same message as the plain call', async () => {
    const client = sdk((await keyWith('assembled')).apiKey);
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });
    const runner = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: HELLO });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(plain.choices[0]?.message.content);
  });

  it("a stream refused before it starts raises the SDK's own classes: 401, 403, 429", async () => {
    const unauthorized = await refusal(
      sdk('kg_test_notakeyatall').chat.completions.create({
        model: 'gpt-4o-mini',
        messages: HELLO,
        stream: true,
      }),
    );
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);

    const scoped = sdk((await keyWith('scoped', { scopes: { providers: ['anthropic'] } })).apiKey);
    const forbidden = await refusal(
      scoped.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO, stream: true }),
    );
    expect(forbidden).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(forbidden.message).toContain('model');

    const rejected = await refusal(
      scoped.chat.completions.create({ model: 'anthropic/test-reject', messages: HELLO, stream: true }),
    );
    expect(rejected.status).toBe(403);

    const limited = sdk((await keyWith('limited', { rateLimit: { limit: 1, windowSeconds: 60 } })).apiKey);
    for await (const _chunk of await limited.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: HELLO,
      stream: true,
    })) {
      // read it to the end
    }
    const spent = await refusal(
      limited.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO, stream: true }),
    );
    expect(spent).toBeInstanceOf(OpenAI.RateLimitError);
    expect(spent.headers?.get('retry-after')).toMatch(/^\d+$/);
  });

  it('a failure mid-stream (reference/test-stream-error) is an error the SDK raises, after the first content', async () => {
    const client = sdk((await keyWith('broken')).apiKey);
    const stream = await client.chat.completions.create({
      model: 'reference/test-stream-error',
      messages: HELLO,
      stream: true,
    });
    let content = '';
    const failure = await (async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(APIError);
    expect(String((failure as APIError).message)).toMatch(/brain/i);
    expect(content.length).toBeGreaterThan(0);
  });

  it('a repeat of a finished streamed call with its Idempotency-Key replays it as a stream, same id', async () => {
    const key = await keyWith('replay');
    const client = sdk(key.apiKey);
    const options = { headers: { 'Idempotency-Key': `stream-${randomUUID()}` } };
    const read = async () => {
      const chunks = [];
      for await (const chunk of await client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: HELLO, stream: true },
        options,
      ))
        chunks.push(chunk);
      return chunks;
    };
    const first = await read();
    const repeat = await read();
    expect(repeat[0]?.id).toBe(first[0]?.id);
    const text = (chunks: typeof first) =>
      chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text(repeat)).toBe(text(first));
  });

  it('a client that leaves after the first chunk: the call is counted once and its budget settled', async () => {
    const key = await keyWith('gone', { budget: { limit: 5, period: 'day', perCallHold: 0.1 } });
    const client = sdk(key.apiKey);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: HELLO,
      stream: true,
    });
    for await (const _chunk of stream) break;
    // The function reads the brain to its end and settles though nobody reads any more.
    const budgetOf = async () => (await e2e.admin.getKey(key.userId, key.keyId)).budget;
    let budget = await budgetOf();
    for (let waited = 0; waited < 5_000 && budget?.held !== 0; waited += 100) {
      await sleep(100);
      budget = await budgetOf();
    }
    expect(budget?.held).toBe(0);
    expect(budget?.spent).toBeGreaterThan(0);
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(1);
  });
});

describe('tool calls', () => {
  const ask: ChatCompletionMessageParam = { role: 'user', content: 'What is the weather in Paris?' };

  it('a round trip, not streamed: tool_calls → a tool message → the final answer quoting it', async () => {
    const client = sdk((await keyWith('tools')).apiKey);
    const first = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [ask],
      tools: [WEATHER],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as { city: unknown; unit: unknown };
    expect(typeof args.city).toBe('string');
    expect(['celsius', 'fahrenheit']).toContain(args.unit);

    const final = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        ask,
        { role: 'assistant', content: null, tool_calls: choice?.message.tool_calls ?? [] },
        { role: 'tool', tool_call_id: call.id, content: '18 degrees and sunny' },
      ],
      tools: [WEATHER],
    });
    expect(final.choices[0]?.finish_reason).toBe('stop');
    expect(final.choices[0]?.message.content).toContain('18 degrees and sunny');
  });

  it('the same round trip streamed: tool-call deltas the SDK assembles, then the streamed answer', async () => {
    const client = sdk((await keyWith('tools-stream')).apiKey);
    const runner = client.chat.completions.stream({
      model: 'reference/test-tools',
      messages: [ask],
      tools: [WEATHER],
    });
    const first = await runner.finalChatCompletion();
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    const call = first.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toMatchObject({ city: expect.any(String) });

    const answer = await client.chat.completions
      .stream({
        model: 'reference/test-tools',
        messages: [
          ask,
          { role: 'assistant', content: null, tool_calls: first.choices[0]?.message.tool_calls ?? [] },
          { role: 'tool', tool_call_id: call.id, content: 'rain, 12 degrees' },
        ],
        tools: [WEATHER],
      })
      .finalChatCompletion();
    expect(answer.choices[0]?.message.content).toContain('rain, 12 degrees');
  });
});
