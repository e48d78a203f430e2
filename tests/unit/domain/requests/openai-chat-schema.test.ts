/**
 * OpenAI's other chat-completions fields (SPEC §3b, §4 v3): accepted on POST
 * /v1/chat/completions, `null` taken as absent, passed on to the brain in `request_params`
 * under OpenAI's names, while /api/v1/requests and its brain requests stay as they were.
 */
import { describe, expect, it } from 'vitest';
import {
  type BrainRequest,
  brainDecisionAnswerSchema,
  brainRequestSchema,
} from '../../../../shared/domain/brain/contract.js';
import { parseChatCompletion } from '../../../../shared/domain/requests/chat-completions.js';
import { STORE_REFUSAL } from '../../../../shared/domain/requests/openai-chat-schema.js';
import { idempotencyFingerprint } from '../../../../shared/domain/requests/process.js';
import { apiRequestSchema, type RequestFields } from '../../../../shared/domain/requests/schema.js';
import { type CallerIdentity, toBrainRequest } from '../../../../shared/domain/requests/transform.js';
import { brainRequest } from '../../../support/brain.js';

const MESSAGES = [{ role: 'user', content: 'What is the weather in Paris?' }];
const VALID = { model: 'gpt-4o-mini', messages: MESSAGES };
const CALLER: CallerIdentity = {
  userId: 'user-1',
  keyId: 'key_abc123',
  projectId: 'proj-key',
  projectBound: false,
};

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
      additionalProperties: false,
    },
    strict: true,
  },
};

function accepted(body: unknown): RequestFields {
  const parsed = parseChatCompletion(body, {});
  if (!parsed.ok) expect.fail(`expected a valid body, got ${JSON.stringify(parsed.details)}`);
  return parsed.request;
}

function refused(body: unknown): { path: string; message: string }[] {
  const parsed = parseChatCompletion(body, {});
  if (parsed.ok) expect.fail(`expected a refusal, got ${JSON.stringify(parsed.request)}`);
  return parsed.details;
}

const pathsOf = (details: { path: string }[]) => details.map((detail) => detail.path);

/** The brain request a chat body becomes, checked against the brain contract. */
function brainRequestOf(body: unknown): BrainRequest {
  const request = toBrainRequest(accepted(body), CALLER, 'req-openai');
  const checked = brainRequestSchema.safeParse(request);
  if (!checked.success) expect.fail(JSON.stringify(checked.error.issues));
  return request;
}

describe('the passed-on OpenAI fields', () => {
  it.each([
    ['stop', '\n\n'],
    ['stop', ['END', 'STOP', '###', '---']],
    ['seed', 42],
    ['seed', -7],
    ['presence_penalty', -2],
    ['frequency_penalty', 2],
    ['logit_bias', { '50256': -100, '198': 5.5 }],
    ['tools', [WEATHER_TOOL]],
    ['tools', [{ type: 'function', function: { name: 'no-arguments' } }]],
    ['parallel_tool_calls', false],
    ['response_format', { type: 'text' }],
    ['response_format', { type: 'json_object' }],
    [
      'response_format',
      {
        type: 'json_schema',
        json_schema: { name: 'weather', schema: { type: 'object', properties: {} }, strict: true },
      },
    ],
    ['reasoning_effort', 'minimal'],
    ['reasoning_effort', 'high'],
    ['service_tier', 'flex'],
    ['store', false],
    ['prompt_cache_key', 'user-7-session'],
    ['safety_identifier', 'sha256-of-user'],
  ])('passes %s %j on to the brain under its own name, unchanged', (field, value) => {
    const request = brainRequestOf({ ...VALID, [field]: value });

    expect(request.request_params).toEqual({ messages: MESSAGES, [field]: value });
  });

  it('passes tool_choice on beside the tools it chooses from', () => {
    for (const tool_choice of [
      'none',
      'auto',
      'required',
      { type: 'function', function: { name: 'get_weather' } },
    ]) {
      const request = brainRequestOf({ ...VALID, tools: [WEATHER_TOOL], tool_choice });

      expect(request.request_params).toMatchObject({ tools: [WEATHER_TOOL], tool_choice });
    }
  });

  it('passes every field at once, and keeps model, user, metadata, stream and stream_options out of request_params', () => {
    const fields = {
      stop: ['x'],
      seed: 1,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { '1': 1 },
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
      service_tier: 'auto',
      store: false,
      prompt_cache_key: 'k',
      safety_identifier: 's',
    };

    const request = brainRequestOf({
      ...VALID,
      ...fields,
      temperature: 0.3,
      user: 'agent-1',
      metadata: { team: 'a' },
      stream: true,
      stream_options: { include_usage: true },
    });

    expect(request.request_params).toEqual({ messages: MESSAGES, temperature: 0.3, ...fields });
    expect(request).toMatchObject({
      agent_id: 'agent-1',
      metadata: { team: 'a' },
      model_name: 'gpt-4o-mini',
    });
  });

  it('fingerprints the new fields: another tool is another request for the Idempotency-Key', () => {
    const other = { ...WEATHER_TOOL, function: { ...WEATHER_TOOL.function, name: 'get_forecast' } };

    const first = idempotencyFingerprint(CALLER, accepted({ ...VALID, tools: [WEATHER_TOOL] }));
    const same = idempotencyFingerprint(CALLER, accepted({ ...VALID, tools: [WEATHER_TOOL] }));
    const changed = idempotencyFingerprint(CALLER, accepted({ ...VALID, tools: [other] }));

    expect(same).toEqual(first);
    expect(changed).not.toEqual(first);
  });
});

describe('null is absent, at every level', () => {
  it('drops every top-level null, passed-on fields included', () => {
    const nulls = Object.fromEntries(
      [
        'stop',
        'seed',
        'presence_penalty',
        'frequency_penalty',
        'logit_bias',
        'tools',
        'tool_choice',
        'parallel_tool_calls',
        'response_format',
        'reasoning_effort',
        'service_tier',
        'store',
        'prompt_cache_key',
        'safety_identifier',
        'stream_options',
      ].map((field) => [field, null]),
    );

    expect(brainRequestOf({ ...VALID, ...nulls }).request_params).toEqual({ messages: MESSAGES });
  });

  it('drops nulls inside a tool, a response format, an image part and the stream options', () => {
    const parsed = parseChatCompletion(
      {
        ...VALID,
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: null } }],
            name: null,
          },
        ],
        tools: [
          { type: 'function', function: { name: 'f', description: null, parameters: null, strict: null } },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'r', description: null, schema: null, strict: null },
        },
        stream: true,
        stream_options: { include_usage: null },
      },
      {},
    );
    if (!parsed.ok) expect.fail(JSON.stringify(parsed.details));

    const params = toBrainRequest(parsed.request, CALLER, 'req-nulls').request_params;

    expect(brainRequestSchema._zod.innerType.shape.request_params.safeParse(params).success).toBe(true);
    expect(params).toEqual({
      messages: [
        {
          role: 'user',
          content: '',
          content_parts: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }],
        },
      ],
      tools: [{ type: 'function', function: { name: 'f' } }],
      response_format: { type: 'json_schema', json_schema: { name: 'r' } },
    });
    expect(parsed.includeUsage).toBe(false);
  });

  it('the brain contract itself takes no null in request_params', () => {
    const withNull = brainRequest({ request_params: { messages: MESSAGES as never, seed: null as never } });

    expect(brainRequestSchema.safeParse(withNull).success).toBe(false);
  });
});

describe('stream and stream_options: on the parse result, for the answer', () => {
  it.each([
    [{ stream: true, stream_options: { include_usage: true } }, true, true],
    [{ stream: true, stream_options: { include_usage: false } }, true, false],
    [{ stream: true }, true, false],
    [{ stream: false, stream_options: { include_usage: true } }, false, false],
    [{ stream_options: { include_usage: true } }, false, false],
  ])('%j → stream %s, includeUsage %s', (fields, stream, includeUsage) => {
    expect(parseChatCompletion({ ...VALID, ...fields }, {})).toMatchObject({
      ok: true,
      stream,
      includeUsage,
    });
  });

  it('refuses unknown stream options, naming them', () => {
    expect(pathsOf(refused({ ...VALID, stream: true, stream_options: { chunk_size: 3 } }))).toEqual([
      'stream_options.chunk_size',
    ]);
  });
});

describe('what is refused', () => {
  it('refuses store: true, saying keygate keeps no conversation', () => {
    expect(refused({ ...VALID, store: true })).toEqual([{ path: 'store', message: STORE_REFUSAL }]);
    expect(STORE_REFUSAL).toMatch(/keeps no conversation/);
  });

  it.each([
    ['stop', ['a', 'b', 'c', 'd', 'e'], 'stop'],
    ['stop', [], 'stop'],
    ['seed', 1.5, 'seed'],
    ['presence_penalty', 2.1, 'presence_penalty'],
    ['frequency_penalty', -3, 'frequency_penalty'],
    ['logit_bias', { hello: 1 }, 'logit_bias.hello'],
    ['logit_bias', { '1': 101 }, 'logit_bias.1'],
    ['tools', [], 'tools'],
    ['tools', Array.from({ length: 129 }, () => WEATHER_TOOL), 'tools'],
    ['tools', [{ type: 'retrieval', function: { name: 'f' } }], 'tools.0.type'],
    ['tools', [{ type: 'function', function: { name: 'has space' } }], 'tools.0.function.name'],
    [
      'tools',
      [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }],
      'tools.0.function.parameters.type',
    ],
    ['tools', [{ type: 'function', function: { name: 'f', parameters: [] } }], 'tools.0.function.parameters'],
    ['tools', [{ type: 'function', function: { name: 'f', extra: 1 } }], 'tools.0.function.extra'],
    ['tool_choice', 'sometimes', 'tool_choice'],
    ['parallel_tool_calls', 'yes', 'parallel_tool_calls'],
    ['response_format', { type: 'xml' }, 'response_format.type'],
    [
      'response_format',
      { type: 'json_schema', json_schema: { schema: {} } },
      'response_format.json_schema.name',
    ],
    ['reasoning_effort', 'maximum', 'reasoning_effort'],
    ['service_tier', 'turbo', 'service_tier'],
    ['prompt_cache_key', '', 'prompt_cache_key'],
    ['safety_identifier', 's'.repeat(129), 'safety_identifier'],
  ])('refuses %s %j, naming %s', (field, value, path) => {
    expect(pathsOf(refused({ ...VALID, [field]: value }))).toEqual([path]);
  });

  it('refuses a __proto__ key inside a tool’s parameters, which a copy would lose', () => {
    const body = JSON.parse(
      '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"__proto__":{"type":"string"}}}}}]}',
    );

    expect(pathsOf(refused(body))).toEqual(['tools.0.function.parameters.properties.__proto__']);
  });

  it('accepts JSON Schema properties named constructor or prototype', () => {
    const parameters = { type: 'object', properties: { constructor: { type: 'string' }, prototype: {} } };

    const request = accepted({
      ...VALID,
      tools: [{ type: 'function', function: { name: 'f', parameters } }],
    });

    expect(request.tools?.[0]?.function.parameters).toEqual(parameters);
  });

  it.each([
    ['required', 'tool_choice'],
    [{ type: 'function', function: { name: 'get_weather' } }, 'tool_choice'],
  ])('refuses tool_choice %j without tools', (tool_choice, path) => {
    expect(pathsOf(refused({ ...VALID, tool_choice }))).toEqual([path]);
  });

  it('refuses a tool_choice that names no function of the tools', () => {
    const details = refused({
      ...VALID,
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', function: { name: 'get_forecast' } },
    });

    expect(details).toEqual([{ path: 'tool_choice.function.name', message: 'names no function of "tools"' }]);
  });

  it('names every refused field and every bad new field at once', () => {
    const details = refused({ ...VALID, functions: [], seed: 'x', store: true, logprobs: true });

    expect(pathsOf(details).sort()).toEqual(['functions', 'logprobs', 'seed', 'store']);
    expect(details.find((detail) => detail.path === 'functions')?.message).toMatch(/deprecated.*"tools"/);
  });
});

describe('messages: tool calls, tool answers and image parts', () => {
  const CALL = {
    id: 'call_1',
    type: 'function',
    function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
  };

  it('passes an assistant message’s tool_calls and a tool message’s tool_call_id on; null content becomes ""', () => {
    const request = brainRequestOf({
      ...VALID,
      messages: [
        ...MESSAGES,
        { role: 'assistant', content: null, tool_calls: [CALL] },
        { role: 'assistant', tool_calls: [CALL] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
      ],
      tools: [WEATHER_TOOL],
    });

    expect(request.request_params.messages).toEqual([
      ...MESSAGES,
      { role: 'assistant', content: '', tool_calls: [CALL] },
      { role: 'assistant', content: '', tool_calls: [CALL] },
      { role: 'tool', content: '{"temperature":21}', tool_call_id: 'call_1' },
    ]);
  });

  it('keeps an assistant message’s text beside its tool calls', () => {
    const request = brainRequestOf({
      ...VALID,
      messages: [...MESSAGES, { role: 'assistant', content: 'Let me look.', tool_calls: [CALL] }],
    });

    expect(request.request_params.messages?.[1]).toEqual({
      role: 'assistant',
      content: 'Let me look.',
      tool_calls: [CALL],
    });
  });

  it('joins the text parts for content and passes all parts on in order when one is an image', () => {
    const parts = [
      { type: 'text', text: 'What is in' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
      { type: 'text', text: 'this picture?' },
    ];

    const request = brainRequestOf({ ...VALID, messages: [{ role: 'user', content: parts }] });

    expect(request.request_params.messages).toEqual([
      { role: 'user', content: 'What is in\nthis picture?', content_parts: parts },
    ]);
  });

  it('sends text-only parts as their joined text alone, as before', () => {
    const request = brainRequestOf({
      ...VALID,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    });

    expect(request.request_params.messages).toEqual([{ role: 'user', content: 'a\nb' }]);
  });

  it.each([
    ['a tool message without tool_call_id', { role: 'tool', content: '42' }, 'messages.0.tool_call_id'],
    [
      'a tool message with a null tool_call_id',
      { role: 'tool', content: '42', tool_call_id: null },
      'messages.0.tool_call_id',
    ],
    [
      'tool_call_id on a user message',
      { role: 'user', content: 'x', tool_call_id: 'c' },
      'messages.0.tool_call_id',
    ],
    [
      'tool_calls on a user message',
      { role: 'user', content: 'x', tool_calls: [CALL] },
      'messages.0.tool_calls',
    ],
    [
      'an assistant message with neither content nor tool calls',
      { role: 'assistant', content: null },
      'messages.0.content',
    ],
    [
      'an empty tool_calls list',
      { role: 'assistant', content: 'x', tool_calls: [] },
      'messages.0.tool_calls',
    ],
    [
      'a tool call of another type',
      { role: 'assistant', tool_calls: [{ ...CALL, type: 'code' }] },
      'messages.0.tool_calls.0.type',
    ],
    [
      'a tool call without arguments',
      { role: 'assistant', tool_calls: [{ ...CALL, function: { name: 'f' } }] },
      'messages.0.tool_calls.0.function.arguments',
    ],
    ['a user message with null content', { role: 'user', content: null }, 'messages.0.content'],
    ['a user message without content', { role: 'user' }, 'messages.0.content'],
    [
      'an image in a system message',
      { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
      'messages.0.content.0',
    ],
    [
      'an image without a url',
      { role: 'user', content: [{ type: 'image_url', image_url: { url: '' } }] },
      'messages.0.content.0.image_url.url',
    ],
  ])('refuses %s, naming %s', (_case, message, path) => {
    expect(pathsOf(refused({ ...VALID, messages: [message] }))).toEqual([path]);
  });
});

describe('/api/v1/requests stays strict and its brain requests as they were', () => {
  it.each([
    ['tools', { tools: [WEATHER_TOOL] }],
    ['seed', { seed: 1 }],
    ['stream', { stream: true }],
    ['a null', { temperature: null }],
  ])('refuses %s', (_case, fields) => {
    const body = {
      provider: 'openai',
      model: 'gpt-4o',
      operation_type: 'chat',
      messages: MESSAGES,
      ...fields,
    };

    expect(apiRequestSchema.safeParse(body).success).toBe(false);
  });

  it('refuses tool_call_id and image parts in its messages', () => {
    const base = { provider: 'openai', model: 'gpt-4o', operation_type: 'chat' };

    expect(
      apiRequestSchema.safeParse({ ...base, messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] })
        .success,
    ).toBe(false);
    expect(
      apiRequestSchema.safeParse({
        ...base,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
      }).success,
    ).toBe(false);
  });

  it('makes exactly the brain request it made before', () => {
    const body = apiRequestSchema.parse({
      provider: 'openai',
      model: 'gpt-4o',
      operation_type: 'chat',
      messages: MESSAGES,
      prompt: 'p',
      temperature: 1,
      max_tokens: 10,
      top_p: 0.5,
      agent_id: 'a',
      metadata: { k: 'v' },
    });

    expect(toBrainRequest(body, CALLER, 'req-api')).toStrictEqual({
      request_id: 'req-api',
      user_id: 'user-1',
      key_id: 'key_abc123',
      project_id: 'proj-key',
      agent_id: 'a',
      api_provider: 'openai',
      model_name: 'gpt-4o',
      operation_type: 'chat',
      request_params: { messages: MESSAGES, prompt: 'p', temperature: 1, max_tokens: 10, top_p: 0.5 },
      metadata: { k: 'v' },
      request_source: 'api',
    });
  });
});

describe('the brain answer: a response may hold tool calls', () => {
  const approved = (response: unknown) => ({
    success: true,
    decision: { decision_id: 'dec_1', outcome: 'approved', reasoning: 'ok', confidence: 1 },
    response,
    payment: null,
    message: 'ok',
  });
  const CALL = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };

  it('accepts OpenAI tool calls in the response, and any response without them', () => {
    expect(brainDecisionAnswerSchema.safeParse(approved({ content: null, tool_calls: [CALL] })).success).toBe(
      true,
    );
    expect(brainDecisionAnswerSchema.safeParse(approved({ content: 'x' })).success).toBe(true);
    expect(brainDecisionAnswerSchema.safeParse(approved(['tool_calls'])).success).toBe(true);
  });

  it.each([
    ['not a list', { tool_calls: 'f()' }],
    ['arguments as an object', { tool_calls: [{ ...CALL, function: { name: 'f', arguments: {} } }] }],
    ['no id', { tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] }],
  ])('refuses tool calls that are %s: an answer outside the contract', (_case, response) => {
    const parsed = brainDecisionAnswerSchema.safeParse(approved(response));

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path.slice(0, 2)).toEqual(['response', 'tool_calls']);
  });
});
