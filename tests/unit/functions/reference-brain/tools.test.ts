/**
 * The reference brain's tool calls (SPEC §4 v3): which function it calls, with arguments that
 * validate against the function's JSON Schema (checked by zod's own JSON Schema reader, not by
 * the generator), the answer quoting a tool's output, and a whole round trip through
 * POST /v1/chat/completions' translation.
 */

import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import {
  argumentsFor,
  minimalValue,
  TOOLS_TEST_MODEL,
  toolCallsFor,
  toolResultsAnswer,
} from '../../../../functions/reference-brain/tools.js';
import {
  brainDecisionAnswerSchema,
  type ChatRequestParams,
} from '../../../../shared/domain/brain/contract.js';
import {
  parseChatCompletion,
  toChatCompletion,
} from '../../../../shared/domain/requests/chat-completions.js';
import type { FunctionTool } from '../../../../shared/domain/requests/openai-chat-schema.js';
import { type CallerIdentity, toBrainRequest } from '../../../../shared/domain/requests/transform.js';
import { brainRequest } from '../../../support/brain.js';

/** Whether `value` is valid for `schema`, as zod reads JSON Schema. */
const validFor = (schema: Record<string, unknown>, value: unknown) =>
  z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]).safeParse(value).success;

const SCHEMAS: Array<[string, Record<string, unknown>]> = [
  ['an empty object', { type: 'object' }],
  ['no type at all', {}],
  [
    'required properties of every type',
    {
      type: 'object',
      properties: {
        city: { type: 'string' },
        days: { type: 'integer' },
        ratio: { type: 'number' },
        metric: { type: 'boolean' },
        nothing: { type: 'null' },
        tags: { type: 'array', items: { type: 'string' } },
        where: { type: 'object', properties: { lat: { type: 'number' } }, required: ['lat'] },
      },
      required: ['city', 'days', 'ratio', 'metric', 'nothing', 'tags', 'where'],
      additionalProperties: false,
    },
  ],
  [
    'enums and consts',
    {
      type: 'object',
      properties: { unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, v: { const: 2 } },
      required: ['unit', 'v'],
    },
  ],
  [
    'string bounds and formats',
    {
      type: 'object',
      properties: {
        long: { type: 'string', minLength: 20 },
        short: { type: 'string', maxLength: 3 },
        exact: { type: 'string', minLength: 4, maxLength: 4 },
        when: { type: 'string', format: 'date-time' },
        day: { type: 'string', format: 'date' },
        mail: { type: 'string', format: 'email' },
        link: { type: 'string', format: 'uri' },
        id: { type: 'string', format: 'uuid' },
      },
      required: ['long', 'short', 'exact', 'when', 'day', 'mail', 'link', 'id'],
    },
  ],
  [
    'number bounds and multiples',
    {
      type: 'object',
      properties: {
        atLeast: { type: 'integer', minimum: 3 },
        above: { type: 'number', exclusiveMinimum: 0 },
        below: { type: 'integer', maximum: -5 },
        under: { type: 'number', exclusiveMaximum: 0, minimum: -0.5 },
        step: { type: 'integer', minimum: 1, multipleOf: 5 },
        window: { type: 'integer', minimum: 10, maximum: 12 },
      },
      required: ['atLeast', 'above', 'below', 'under', 'step', 'window'],
    },
  ],
  [
    'arrays with minItems and tuples',
    {
      type: 'object',
      properties: {
        two: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 2 },
        pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'boolean' }] },
      },
      required: ['two', 'pair'],
    },
  ],
  [
    'anyOf, nullable types and $ref into $defs',
    {
      type: 'object',
      properties: {
        either: { anyOf: [{ type: 'integer', minimum: 7 }, { type: 'string' }] },
        maybe: { type: ['string', 'null'], minLength: 2 },
        place: { $ref: '#/$defs/place' },
      },
      required: ['either', 'maybe', 'place'],
      $defs: { place: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
    },
  ],
  [
    'allOf',
    {
      allOf: [
        { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
        { type: 'object', properties: { b: { type: 'integer', minimum: 2 } }, required: ['b'] },
      ],
    },
  ],
  ['minProperties', { type: 'object', properties: { a: { type: 'string' }, b: {} }, minProperties: 2 }],
];

describe('argumentsFor: the minimal arguments a function’s JSON Schema accepts', () => {
  it.each(SCHEMAS)('generates valid arguments for %s', (_case, schema) => {
    const args = argumentsFor(schema);

    expect(validFor({ type: 'object', ...schema }, args)).toBe(true);
  });

  it('the checker is not lenient: it refuses what the schemas forbid', () => {
    const [, everyType] = SCHEMAS[2] ?? expect.fail('no schema');
    const [, numbers] = SCHEMAS[5] ?? expect.fail('no schema');

    expect(validFor(everyType, {})).toBe(false);
    expect(validFor(everyType, { ...(argumentsFor(everyType) as object), extra: 1 })).toBe(false);
    expect(validFor(numbers, { ...(argumentsFor(numbers) as object), step: 7 })).toBe(false);
  });

  it('is the required properties only, with enum’s first value', () => {
    expect(
      argumentsFor({
        type: 'object',
        properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] }, optional: {} },
        required: ['city', 'unit'],
      }),
    ).toEqual({ city: 'reference', unit: 'celsius' });
  });

  it('is {} for a function without parameters', () => {
    expect(argumentsFor(undefined)).toEqual({});
  });

  it('stops at a $ref cycle instead of recursing forever', () => {
    const cyclic = {
      type: 'object',
      properties: { next: { $ref: '#' } },
      required: ['next'],
    };

    expect(() => minimalValue(cyclic)).not.toThrow();
  });
});

const WEATHER: FunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 2 },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'days'],
    },
  },
};
const TIME: FunctionTool = { type: 'function', function: { name: 'get_time' } };

const withTools = (overrides: Partial<ChatRequestParams>, model = 'gpt-4o') =>
  brainRequest({
    api_provider: model === TOOLS_TEST_MODEL ? 'reference' : 'openai',
    model_name: model,
    request_params: {
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [TIME, WEATHER],
      ...overrides,
    },
  });

describe('toolCallsFor: which function the reference brain calls', () => {
  it('test-tools calls the first tool', () => {
    expect(toolCallsFor(withTools({}, TOOLS_TEST_MODEL))?.map((call) => call.function.name)).toEqual([
      'get_time',
    ]);
  });

  it('a tool_choice naming a function calls that one, on any model', () => {
    const calls = toolCallsFor(
      withTools({ tool_choice: { type: 'function', function: { name: 'get_weather' } } }),
    );

    expect(calls).toHaveLength(1);
    expect(calls?.[0]?.function.name).toBe('get_weather');
    const args = JSON.parse(calls?.[0]?.function.arguments ?? 'null');
    expect(validFor(WEATHER.function.parameters ?? {}, args)).toBe(true);
  });

  it('tool_choice required calls the first tool; none and auto on another model call nothing', () => {
    expect(toolCallsFor(withTools({ tool_choice: 'required' }))?.[0]?.function.name).toBe('get_time');
    expect(toolCallsFor(withTools({ tool_choice: 'none' }, TOOLS_TEST_MODEL))).toBeUndefined();
    expect(toolCallsFor(withTools({ tool_choice: 'auto' }))).toBeUndefined();
    expect(toolCallsFor(withTools({}))).toBeUndefined();
  });

  it('derives the call id from the request id: the same for a repeat, another for another request', () => {
    const idOf = (requestId: string) =>
      toolCallsFor({ ...withTools({}, TOOLS_TEST_MODEL), request_id: requestId })?.[0]?.id;

    expect(idOf('req-a')).toMatch(/^call_[0-9a-f]{24}$/);
    expect(idOf('req-a')).toBe(idOf('req-a'));
    expect(idOf('req-b')).not.toBe(idOf('req-a'));
  });
});

describe('the reference brain answers with tool calls', () => {
  it('test-tools approves with a call, content null, finish_reason tool_calls, and pays as reference does', async () => {
    const answer = brainDecisionAnswerSchema.parse(await referenceBrain(withTools({}, TOOLS_TEST_MODEL)));

    expect(answer.decision.outcome).toBe('approved');
    expect(answer.payment?.simulated).toBe(true);
    expect(answer.response).toMatchObject({
      content: null,
      tool_calls: [{ type: 'function', function: { name: 'get_time', arguments: '{}' } }],
      finish_reason: 'tool_calls',
    });
  });

  it('after the tool messages, quotes each tool’s output, naming its function, instead of calling again', async () => {
    const request = withTools(
      {
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
              { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          { role: 'tool', content: 'sunny, 21 °C', tool_call_id: 'call_1' },
          { role: 'tool', content: '12:00', tool_call_id: 'call_2' },
        ],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      },
      TOOLS_TEST_MODEL,
    );

    const answer = brainDecisionAnswerSchema.parse(await referenceBrain(request));

    const content = (answer.response as { content: string }).content;
    expect(content).toContain('the tool get_weather returned: sunny, 21 °C');
    expect(content).toContain('the tool get_time returned: 12:00');
    expect(answer.response).not.toHaveProperty('tool_calls');
    expect(toolResultsAnswer(request)).toBe(content);
  });

  it('answers text when the last message is not a tool’s', () => {
    expect(toolResultsAnswer(withTools({}))).toBeUndefined();
  });
});

describe('a tool-call round trip through POST /v1/chat/completions’ translation', () => {
  const CALLER: CallerIdentity = { userId: 'u', keyId: 'k', projectId: 'p', projectBound: false };

  async function complete(body: unknown, requestId: string) {
    const parsed = parseChatCompletion(body, {});
    if (!parsed.ok) expect.fail(JSON.stringify(parsed.details));
    const answer = brainDecisionAnswerSchema.parse(
      await referenceBrain(toBrainRequest(parsed.request, CALLER, requestId)),
    );
    return toChatCompletion({ ...answer, request_id: requestId }, parsed.model, 0) as {
      choices: Array<{
        message: { content: string | null; tool_calls?: Array<{ id: string }> };
        finish_reason: string;
      }>;
    };
  }

  it('call → tool_calls → tool message → an answer quoting it', async () => {
    const tools = [WEATHER];
    const messages: unknown[] = [{ role: 'user', content: 'Weather in Paris?' }];

    const first = await complete({ model: 'reference/test-tools', messages, tools }, 'req-1');
    const [choice] = first.choices;
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0] ?? expect.fail('no tool call');

    messages.push(choice?.message, { role: 'tool', tool_call_id: call.id, content: '{"sky":"clear"}' });
    const second = await complete({ model: 'reference/test-tools', messages, tools }, 'req-2');

    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toContain('the tool get_weather returned: {"sky":"clear"}');
  });
});
