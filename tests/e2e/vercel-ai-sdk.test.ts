/**
 * A second real client made for agents (SPEC §3b): the Vercel AI SDK (`ai` + `@ai-sdk/openai`,
 * its chat-completions model) pointed at the local stack by `baseURL` only. `generateText`
 * runs a tool loop to its final text (call → tool result → answer) and `streamText` streams,
 * its text equal to the plain answer; every call counted on the key — with its chat-completions
 * model and with its default model, which speaks the Responses API.
 */
import { randomUUID } from 'node:crypto';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
let dispatcher: Agent;

beforeAll(async () => {
  stack = await startTestStack();
  admin = keysAdminClient(stack.lambdaUrl);
  dispatcher = new Agent({ connect: { ca: stack.caCertPem } });
});

afterAll(async () => {
  await dispatcher?.close();
  admin?.close();
  await stack?.stop();
});

async function provider(label: string) {
  const userId = `${label}-${randomUUID().slice(0, 8)}`;
  await admin.expectOk({ action: 'create-user', userId });
  const created = await admin.expectOk({ action: 'create', userId, name: label });
  if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
  const openai = createOpenAI({
    baseURL: `${stack.apiUrl}/v1`,
    apiKey: created.apiKey,
    // The stack's self-signed certificate, verified (no rejectUnauthorized: false).
    fetch: ((input: string | URL | Request, init?: RequestInit) =>
      undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch,
  });
  return {
    openai,
    usageCount: async () => (await admin.getKey(userId, created.key?.keyId ?? '')).usageCount,
  };
}

/** The one tool of the loops: records each input it is called with. */
const weatherTool = (seenInputs: unknown[]) =>
  tool({
    description: 'The weather in a city',
    inputSchema: jsonSchema<{ city: string }>({
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    }),
    execute: async (input) => {
      seenInputs.push(input);
      return '21 degrees and clear';
    },
  });

describe('the Vercel AI SDK against keygate', () => {
  it('generateText runs a tool loop to its final text: the tool called with valid input, its result quoted', async () => {
    const { openai, usageCount } = await provider('ai-tools');
    const seenInputs: unknown[] = [];
    const result = await generateText({
      model: openai.chat('reference/test-tools'),
      prompt: 'What is the weather in Paris?',
      tools: { get_weather: weatherTool(seenInputs) },
      stopWhen: stepCountIs(3),
    });

    expect(seenInputs).toHaveLength(1);
    expect(seenInputs[0]).toEqual({ city: expect.any(String) });
    expect(result.steps.length).toBe(2);
    expect(result.steps[0]?.finishReason).toBe('tool-calls');
    expect(result.text).toContain('21 degrees and clear');
    expect(await usageCount()).toBe(2);
  });

  it('streamText streams the same text generateText answers', async () => {
    const { openai, usageCount } = await provider('ai-stream');
    const plain = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello to keygate.' });
    const streamed = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello to keygate.' });
    const pieces: string[] = [];
    for await (const piece of streamed.textStream) pieces.push(piece);

    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(plain.text);
    expect(await streamed.text).toBe(plain.text);
    expect(await usageCount()).toBe(2);
  });
});

// The provider's default model (`openai(id)`) speaks the Responses API (SPEC §3e): the same
// tool loop and stream over POST /v1/responses, counted the same.
describe("the Vercel AI SDK's default model (Responses API) against keygate", () => {
  it('generateText runs a tool loop over /v1/responses to its final text', async () => {
    const { openai, usageCount } = await provider('ai-responses-tools');
    const seenInputs: unknown[] = [];
    const result = await generateText({
      model: openai('reference/test-tools'),
      prompt: 'What is the weather in Paris?',
      tools: { get_weather: weatherTool(seenInputs) },
      stopWhen: stepCountIs(3),
    });

    expect(seenInputs).toEqual([{ city: expect.any(String) }]);
    expect(result.steps.map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);
    expect(result.text).toContain('21 degrees and clear');
    expect(result.response.id).toMatch(/^resp_/);
    expect(await usageCount()).toBe(2);
  });

  it('streamText over /v1/responses streams the text generateText answers', async () => {
    const { openai, usageCount } = await provider('ai-responses-stream');
    // Nothing but the base URL and the key: the provider's defaults as they are.
    const options = { prompt: 'Say hello to keygate.' };
    const plain = await generateText({ model: openai('gpt-4o-mini'), ...options });
    const streamed = streamText({ model: openai('gpt-4o-mini'), ...options });
    const pieces: string[] = [];
    for await (const piece of streamed.textStream) pieces.push(piece);

    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(plain.text);
    expect((await streamed.usage).outputTokens).toBeGreaterThan(0);
    expect(await usageCount()).toBe(2);
  });
});
