/**
 * The OpenAI Agents SDK (`@openai/agents`) pointed at keygate (SPEC §3e): one agent with one
 * function tool, run to its final output over the Responses API of the local stack, with only
 * the base URL and the key changed. Every model call of the run is counted on the key.
 */
import { randomUUID } from 'node:crypto';
import { Agent, OpenAIResponsesModel, run, setTracingDisabled, tool } from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { LocalStack } from '../../local/stack.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { openaiClient } from './support/openai.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // Traces would go to OpenAI's own platform with the key: nothing leaves this machine.
  setTracingDisabled(true);
  stack = await startTestStack();
  admin = keysAdminClient(stack.lambdaUrl);
});

afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
  admin?.close();
  await stack?.stop();
});

describe('@openai/agents against keygate', () => {
  it('runs one agent with one function tool to its final output; each model call counted', async () => {
    const userId = `agents-${randomUUID().slice(0, 8)}`;
    await admin.expectOk({ action: 'create-user', userId });
    const created = await admin.expectOk({ action: 'create', userId, name: 'agents' });
    if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
    const made = openaiClient(stack, created.apiKey);
    closers.push(made.close);

    const calls: string[] = [];
    const getWeather = tool({
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        calls.push(city);
        return `It is 21 degrees and sunny in ${city}.`;
      },
    });
    const agent = new Agent({
      name: 'Weather agent',
      instructions: 'Answer with the weather tool.',
      tools: [getWeather],
      // The reference brain's deterministic tool model: it calls the first tool, then answers.
      model: new OpenAIResponsesModel(made.client as never, 'reference/test-tools'),
      modelSettings: { store: false },
    });

    const result = await run(agent, 'What is the weather in Paris?');

    expect(calls).toHaveLength(1);
    expect(String(result.finalOutput)).toContain('21 degrees and sunny');
    // Two model calls: the one that called the tool, the one that answered with its output.
    expect((await admin.getKey(userId, created.key.keyId)).usageCount).toBe(2);
  });
});
