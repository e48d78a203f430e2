/**
 * The OpenAI Agents SDK (`@openai/agents`) pointed at keygate (SPEC §3e): one agent with one
 * function tool, run to its final output over the Responses API of the local stack, with only
 * the base URL and the key changed. Every model call of the run is counted on the key.
 */
import { Agent, OpenAIResponsesModel, run, setTracingDisabled, tool } from '@openai/agents';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { useKeyedStack } from './support/keyed-stack.js';
import { openaiClient } from './support/openai.js';

// Traces would go to OpenAI's own platform with the key: nothing leaves this machine.
beforeAll(() => setTracingDisabled(true));
const e2e = useKeyedStack({}, { countedBrain: true });

describe('@openai/agents against keygate', () => {
  it('runs one agent with one function tool to its final output; each model call counted', async () => {
    const key = await e2e.keyWith('agents');
    const made = openaiClient(e2e.stack, key.apiKey);
    e2e.closeWithStack(made.close);

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
    });

    const result = await run(agent, 'What is the weather in Paris?');

    expect(calls).toHaveLength(1);
    expect(String(result.finalOutput)).toContain('21 degrees and sunny');
    // Two model calls: the one that called the tool, the one that answered with its output.
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(2);
    // One brain invocation per model call, none repeated by the SDK.
    expect(e2e.brain.callsOf(key.userId)).toHaveLength(2);
  });
});
