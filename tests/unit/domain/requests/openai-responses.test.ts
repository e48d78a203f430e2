/**
 * POST /v1/responses, its translation only (SPEC §3e): a Responses API body and the keygate
 * headers → the fields of one brain request (the same as chat completions'; or every problem,
 * the first named in the message), and the brain's answer → a `response` object or the
 * Responses server-sent events. The brain answers are the reference brain's own; the answers
 * and streams are read back by the official `openai` SDK and the OpenAI Agents SDK, through a
 * fetch that never leaves the process.
 */
import { Agent, OpenAIResponsesModel, run, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import * as zod from 'zod';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import { referenceBrainEvents } from '../../../../functions/reference-brain/events.js';
import {
  type ApiSuccess,
  type BrainRequest,
  brainDecisionAnswerSchema,
  brainRequestSchema,
} from '../../../../shared/domain/brain/contract.js';
import { StreamAssembler } from '../../../../shared/domain/brain/stream.js';
import {
  brainMessagesOf,
  parseResponses,
  type ResponsesCall,
  responsesFormat,
  responsesPathOf,
} from '../../../../shared/domain/requests/openai-responses.js';
import { toResponse } from '../../../../shared/domain/requests/responses-answer.js';
import { UNSUPPORTED_RESPONSES_FIELDS } from '../../../../shared/domain/requests/responses-schema.js';
import type { RequestFields } from '../../../../shared/domain/requests/schema.js';
import { type CallerIdentity, toBrainRequest } from '../../../../shared/domain/requests/transform.js';
import { HttpError } from '../../../../shared/errors.js';

const CALLER: CallerIdentity = {
  userId: 'user-1',
  keyId: 'key_abc123',
  projectId: 'proj-key',
  projectBound: false,
};
const CREATED = 1_760_000_000;
const WEATHER = {
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

function parsedCall(body: unknown, headers: Record<string, string> = {}): ResponsesCall {
  const parsed = parseResponses(body, headers);
  if (!parsed.ok) expect.fail(`expected a valid body, got ${JSON.stringify(parsed.details)}`);
  expect(
    brainRequestSchema.safeParse(toBrainRequest(parsed.call.request, CALLER, 'req-x')).error?.issues,
  ).toBeUndefined();
  return parsed.call;
}
const accepted = (body: unknown, headers: Record<string, string> = {}): RequestFields =>
  parsedCall(body, headers).request;

function refused(body: unknown, headers: Record<string, string> = {}) {
  const parsed = parseResponses(body, headers);
  if (parsed.ok) expect.fail(`expected a refusal, got ${JSON.stringify(parsed.call.request)}`);
  expect(parsed.details.length).toBeGreaterThan(0);
  return parsed;
}

/** The reference brain's plain answer to a parsed call. */
async function brainAnswer(call: ResponsesCall, requestId = 'req-0001'): Promise<ApiSuccess> {
  const request: BrainRequest = toBrainRequest(call.request, CALLER, requestId);
  const answer = brainDecisionAnswerSchema.parse(await referenceBrain(request));
  return { ...answer, request_id: requestId };
}

/** The reference brain's streamed answer through the encoder, as the pipeline writes it; and the settled answer. */
async function streamed(
  call: ResponsesCall,
  requestId = 'req-0002',
): Promise<{ body: string; answer: ApiSuccess }> {
  const encoder = responsesFormat.encoder?.(call, requestId, CREATED);
  if (!encoder) throw new Error('the format streams');
  const assembler = new StreamAssembler();
  let body = '';
  let answer: ApiSuccess | undefined;
  let decision: ApiSuccess['decision'] | undefined;
  for await (const event of referenceBrainEvents(toBrainRequest(call.request, CALLER, requestId), {
    paceMs: 0,
  })) {
    if (event.type === 'decision') {
      decision = event.decision;
      body += encoder.opening();
    } else if (event.type === 'delta') {
      assembler.add(event);
      body += encoder.delta(event) ?? '';
    } else if (decision) {
      answer = {
        success: true,
        decision,
        response: assembler.response(event),
        payment: event.payment,
        message: event.message,
        request_id: requestId,
      };
      body += encoder.closing(answer);
    }
  }
  if (!answer) throw new Error('the brain did not finish');
  return { body, answer };
}

/** An `openai` client whose every call is answered by `answer` (a JSON body or an SSE stream). */
function clientAnswering(answer: (body: Record<string, unknown>) => Promise<unknown> | unknown): OpenAI {
  return new OpenAI({
    apiKey: 'kg_test_x',
    baseURL: 'http://keygate.test/v1',
    maxRetries: 0,
    fetch: async (_url, init) => {
      const result = await answer(JSON.parse(String(init?.body)));
      return typeof result === 'string'
        ? new Response(result, { headers: { 'content-type': 'text/event-stream' } })
        : new Response(JSON.stringify(result), { headers: { 'content-type': 'application/json' } });
    },
  });
}

/** The events of an SSE body, as `event:` names and parsed data. */
function eventsOf(body: string): { event: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return {
        event: (eventLine ?? '').replace(/^event: /, ''),
        data: JSON.parse((dataLine ?? '').replace(/^data: /, '')),
      };
    });
}

describe('parseResponses', () => {
  it('a string input: the same brain request as chat completions, instructions first', () => {
    const call = parsedCall({
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      input: 'Say hello.',
      store: false,
    });
    expect(call).toMatchObject({ model: 'gpt-4o-mini', stream: false, instructions: 'Be brief.' });
    expect(call.request).toEqual({
      provider: 'openai',
      model: 'gpt-4o-mini',
      operation_type: 'chat',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello.' },
      ],
      store: false,
    });
  });

  it('provider/model is split; temperature, top_p, max_output_tokens, reasoning and the passed-on fields', () => {
    expect(
      accepted({
        model: 'anthropic/claude-sonnet-4',
        input: 'Hi.',
        temperature: 0.5,
        top_p: 0.9,
        max_output_tokens: 64,
        reasoning: { effort: 'low', summary: 'auto' },
        parallel_tool_calls: false,
        service_tier: 'flex',
        prompt_cache_key: 'k',
        safety_identifier: 's',
        metadata: { team: 'a' },
        include: [],
        truncation: 'disabled',
      }),
    ).toMatchObject({
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 64,
      reasoning_effort: 'low',
      parallel_tool_calls: false,
      service_tier: 'flex',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      metadata: { team: 'a' },
    });
  });

  it('message items: roles, input_text joined, input_image as parts, assistant output_text history', () => {
    const request = accepted({
      model: 'gpt-4o',
      input: [
        { role: 'developer', content: 'Rules.' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is' },
            { type: 'input_text', text: 'this?' },
            { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low', file_id: null },
          ],
        },
        {
          type: 'message',
          id: 'msg_1',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'A cat.', annotations: [] }],
        },
      ],
    });
    expect(request.messages).toEqual([
      { role: 'system', content: 'Rules.' },
      {
        role: 'user',
        content: 'What is\nthis?',
        content_parts: [
          { type: 'text', text: 'What is' },
          { type: 'text', text: 'this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
        ],
      },
      { role: 'assistant', content: 'A cat.' },
    ]);
  });

  it('function_call items: consecutive ones are one assistant turn; function_call_output a tool message', () => {
    const messages = brainMessagesOf(null, [
      { type: 'message', role: 'user', content: 'Weather in Paris and Rome?' },
      { type: 'message', role: 'assistant', content: 'Checking.' },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      {
        type: 'function_call',
        call_id: 'call_2',
        name: 'get_weather',
        arguments: '{"city":"Rome"}',
        id: 'fc_2',
      },
      { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'rain' }] },
      { type: 'reasoning', id: 'rs_1', summary: [] },
      { type: 'function_call', call_id: 'call_3', name: 'get_weather', arguments: '{}' },
    ]);
    const call = (id: string, city: string) => ({
      id,
      type: 'function',
      function: { name: 'get_weather', arguments: city },
    });
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [call('call_1', '{"city":"Paris"}'), call('call_2', '{"city":"Rome"}')],
      },
      { role: 'tool', content: 'sunny', tool_call_id: 'call_1' },
      { role: 'tool', content: 'rain', tool_call_id: 'call_2' },
      { role: 'assistant', content: '', tool_calls: [call('call_3', '{}')] },
    ]);
  });

  it('tools, tool_choice and text.format become the chat forms the brain contract takes', () => {
    const request = accepted({
      model: 'gpt-4o-mini',
      input: 'Weather?',
      tools: [WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
    });
    expect(request).toMatchObject({
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: WEATHER.description,
            parameters: WEATHER.parameters,
            strict: true,
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
    });
    expect(
      accepted({
        model: 'm',
        input: 'x',
        tools: [],
        tool_choice: 'auto',
        text: { format: { type: 'json_object' } },
      }),
    ).toMatchObject({
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
    });
    expect(accepted({ model: 'm', input: 'x', tools: [] }).tools).toBeUndefined();
  });

  it('nulls are absent, as the SDKs send them', () => {
    expect(
      accepted({
        model: 'gpt-4o-mini',
        input: [{ type: 'function_call_output', call_id: 'c', output: 'x', id: null, status: null }],
        instructions: null,
        temperature: null,
        top_p: null,
        max_output_tokens: null,
        tools: null,
        tool_choice: null,
        text: null,
        reasoning: null,
        metadata: null,
        store: null,
        stream: null,
        previous_response_id: null,
        conversation: null,
        prompt: null,
        include: null,
        truncation: null,
        background: null,
      }),
    ).toEqual({
      provider: 'openai',
      model: 'gpt-4o-mini',
      operation_type: 'chat',
      messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }],
    });
  });

  it('refuses what needs conversation state or built-in tools, naming it in the message', () => {
    const previous = refused({ model: 'gpt-4o-mini', input: 'More.', previous_response_id: 'resp_123' });
    expect(previous.details[0]?.path).toBe('previous_response_id');
    expect(previous.message).toContain('previous_response_id');
    expect(previous.message).toContain('keeps no conversation state');

    for (const type of [
      'web_search',
      'web_search_preview',
      'file_search',
      'computer_use_preview',
      'code_interpreter',
      'mcp',
    ]) {
      const search = refused({ model: 'gpt-4o-mini', input: 'Search.', tools: [{ type }] });
      expect(search.details).toEqual([
        { path: 'tools.0.type', message: expect.stringContaining(`"${type}"`) },
      ]);
      expect(search.message).toContain(type);
    }
    for (const field of UNSUPPORTED_RESPONSES_FIELDS) {
      expect(refused({ model: 'm', input: 'x', [field]: 'value' }).details).toEqual([
        { path: field, message: expect.stringContaining(`"${field}"`) },
      ]);
    }
    expect(refused({ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] }).message).toContain(
      'item_reference',
    );
    expect(refused({ model: 'm', input: 'x', store: true }).details[0]?.path).toBe('store');
    expect(
      refused({ model: 'm', input: 'x', include: ['reasoning.encrypted_content'] }).details[0]?.path,
    ).toBe('include');
    expect(refused({ model: 'm', input: 'x', background: true }).details[0]?.path).toBe('background');
  });

  it('refuses unknown fields, bad items, parts and tools, each at its path', () => {
    const parsed = refused({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: [{ type: 'input_file', file_id: 'file_1' }] },
        { role: 'user', content: [{ type: 'input_image', file_id: 'file_2', detail: 'auto' }] },
        { role: 'system', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] },
        { type: 'function_call', call_id: 'c', name: 'f' },
      ],
      tools: [{ ...WEATHER, parameters: { type: 'string' } }],
      tool_choice: { type: 'function', name: 'nope' },
      text: { format: { type: 'json_schema', name: 'bad name!' } },
      temperature: 3,
      seed: 1,
    });
    expect(parsed.details.map((detail) => detail.path).sort()).toEqual(
      [
        'input.0.content.0.type',
        'input.1.content.0.file_id',
        'input.2.content.0',
        'input.3.arguments',
        'tools.0.parameters.type',
        'temperature',
        'text.format.name',
        'seed',
      ].sort(),
    );
    expect(parsed.details).toContainEqual({ path: 'seed', message: 'unknown field "seed"' });
    expect(refused({ model: 'm', input: [] }).details[0]?.path).toBe('input');
    expect(refused({ model: 'm', input: [{ type: 'reasoning', summary: [] }] }).details).toEqual([
      { path: 'input', message: expect.stringContaining('no message') },
    ]);
    expect(refused({ input: 'x' }).details[0]?.path).toBe('model');
    expect(refused({ model: 'BAD/x', input: 'x' }).details[0]?.path).toBe('model');
    expect(refused({ model: 'm', input: 'x', tool_choice: 'required' }).details[0]?.path).toBe('tool_choice');
    expect(
      refused({ model: 'm', input: 'x', tools: [WEATHER], tool_choice: { type: 'function', name: 'nope' } })
        .details,
    ).toEqual([{ path: 'tool_choice.name', message: 'names no function of "tools"' }]);
    expect(
      refused({ model: 'm', input: 'x', tools: [WEATHER], tool_choice: { type: 'web_search' } }).message,
    ).toContain('keygate runs no tools');
  });

  it('headers: project, and the agent (which wins over user); bad ones named', () => {
    expect(accepted({ model: 'm', input: 'x', user: 'u-1' })).toMatchObject({ agent_id: 'u-1' });
    expect(
      accepted(
        { model: 'm', input: 'x', user: 'u-1' },
        { 'keygate-agent-id': 'agent-7', 'keygate-project-id': 'proj-2' },
      ),
    ).toMatchObject({ agent_id: 'agent-7', project_id: 'proj-2' });
    expect(refused({ model: 'm', input: 'x' }, { 'keygate-project-id': '' }).details).toEqual([
      { path: 'Keygate-Project-Id', message: 'must be 1-128 characters' },
    ]);
  });

  it("the Agents SDK's own requests pass, tools: [] and include: [] included", () => {
    accepted({
      model: 'reference/test-tools',
      instructions: 'Answer.',
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          id: 'fc_call_1',
          type: 'function_call',
          name: 'get_weather',
          call_id: 'call_1',
          arguments: '{"city":"Paris"}',
          status: 'completed',
        },
        { type: 'function_call_output', call_id: 'call_1', output: '21 in Paris', status: 'completed' },
      ],
      include: [],
      tools: [
        {
          ...WEATHER,
          parameters: { $schema: 'http://json-schema.org/draft-07/schema#', ...WEATHER.parameters },
        },
      ],
      stream: false,
      store: false,
    });
  });

  it('pathOf names the model and the headers', () => {
    expect(['provider', 'model', 'project_id', 'agent_id', 'metadata'].map(responsesPathOf)).toEqual([
      'model',
      'model',
      'Keygate-Project-Id',
      'Keygate-Agent-Id',
      'metadata',
    ]);
  });
});

describe('present', () => {
  it('text: a completed response with one message item and the usage', async () => {
    const call = parsedCall({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Say hello.' });
    const answer = await brainAnswer(call);
    const response = answer.response as {
      content: string;
      usage: { input_tokens: number; output_tokens: number };
    };
    const body = toResponse(answer, call, CREATED);
    expect(body).toMatchObject({
      id: 'resp_req-0001',
      object: 'response',
      created_at: CREATED,
      status: 'completed',
      model: 'gpt-4o-mini',
      output: [
        {
          type: 'message',
          id: 'msg_req-0001',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: response.content, annotations: [] }],
        },
      ],
      usage: {
        input_tokens: response.usage.input_tokens,
        output_tokens: response.usage.output_tokens,
        total_tokens: response.usage.input_tokens + response.usage.output_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      tool_choice: 'auto',
      tools: [],
      keygate: { request_id: 'req-0001', decision: answer.decision, payment: answer.payment },
    });

    const sdk = await clientAnswering(() => body).responses.create({
      model: 'gpt-4o-mini',
      input: 'Say hello.',
    });
    expect(sdk.output_text).toBe(response.content);
  });

  it('function calls: one function_call item per call, echoing the tools', async () => {
    const call = parsedCall({ model: 'reference/test-tools', input: 'Weather in Paris?', tools: [WEATHER] });
    const body = toResponse(await brainAnswer(call), call, CREATED);
    expect(body.output).toEqual([
      {
        type: 'function_call',
        id: expect.stringMatching(/^fc_/),
        call_id: expect.any(String),
        name: 'get_weather',
        arguments: expect.any(String),
        status: 'completed',
      },
    ]);
    const [item] = body.output;
    expect(item?.type === 'function_call' && item.id).toBe(
      item?.type === 'function_call' && `fc_${item.call_id}`,
    );
    expect(body.tools).toEqual([{ ...WEATHER }]);
  });

  it('finish_reason length: incomplete, max_output_tokens', async () => {
    const call = parsedCall({ model: 'gpt-4o-mini', input: 'Hi.' });
    const answer = {
      ...(await brainAnswer(call)),
      response: { content: 'Hel', finish_reason: 'length', usage: { input_tokens: 1, output_tokens: 1 } },
    };
    expect(toResponse(answer, call, CREATED)).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [{ type: 'message', status: 'incomplete' }],
    });
  });

  it("not approved: forbidden with the brain's message", async () => {
    const call = parsedCall({ model: 'reference/test-reject', input: 'Hi.' });
    const answer = await brainAnswer(call);
    expect(answer.decision.outcome).not.toBe('approved');
    const thrown = (() => {
      try {
        responsesFormat.present(answer, call, CREATED);
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(HttpError);
    expect(thrown).toMatchObject({ code: 'forbidden', message: answer.message });
  });
});

describe('encoder', () => {
  it('text: the events in order, numbered from 0; the SDK assembles what present answers', async () => {
    const call = parsedCall({ model: 'gpt-4o-mini', input: 'Stream hello.', stream: true });
    const { body, answer } = await streamed(call);
    const events = eventsOf(body);
    expect(events.every(({ event, data }) => event === data.type)).toBe(true);
    expect(events.map(({ data }) => data.sequence_number)).toEqual(events.map((_, index) => index));
    const types = events.map(({ event }) => event);
    const deltas = types.filter((type) => type === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);

    const presented = toResponse(answer, call, CREATED);
    const seen: ResponseStreamEvent[] = [];
    for await (const event of await clientAnswering(() => body).responses.create({
      model: 'gpt-4o-mini',
      input: 'x',
      stream: true,
    }))
      seen.push(event);
    expect(seen.map((event) => event.type)).toEqual(types);
    const final = await clientAnswering(() => body)
      .responses.stream({ model: 'gpt-4o-mini', input: 'x' })
      .finalResponse();
    expect(final.output).toEqual(
      presented.output
        .map((item) => ({
          ...item,
          content:
            item.type === 'message' ? item.content.map((part) => ({ ...part, parsed: null })) : undefined,
        }))
        .map(({ content, ...item }) => (content ? { ...item, content } : item)),
    );
    expect(final.usage).toEqual(presented.usage);
    expect(final.output_text).toBe(
      seen.flatMap((event) => (event.type === 'response.output_text.delta' ? [event.delta] : [])).join(''),
    );
  });

  it("a tool call: function_call item, argument deltas, done; the SDK's final response has it", async () => {
    const call = parsedCall({
      model: 'reference/test-tools',
      input: 'Weather in Paris?',
      tools: [WEATHER],
      stream: true,
    });
    const { body, answer } = await streamed(call);
    const types = eventsOf(body).map(({ event }) => event);
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types.slice(-3)).toEqual([
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const final = await clientAnswering(() => body)
      .responses.stream({ model: 'm', input: 'x' })
      .finalResponse();
    const presented = toResponse(answer, call, CREATED);
    expect(final.output).toMatchObject(presented.output);
    expect(final.output[0]).toMatchObject({
      type: 'function_call',
      name: 'get_weather',
      status: 'completed',
    });
  });

  it('replay: the same events as live (its text in one delta), from a fresh sequence', async () => {
    const call = parsedCall({ model: 'gpt-4o-mini', input: 'Stream hello.', stream: true });
    const { body, answer } = await streamed(call);
    const encoder = responsesFormat.encoder?.(call, 'req-0002', CREATED);
    const replayed = eventsOf(encoder?.replay(answer) ?? '');
    const live = eventsOf(body);
    expect(replayed.map(({ data }) => data.sequence_number)).toEqual(replayed.map((_, index) => index));
    const unnumbered = (events: typeof live) =>
      events
        .filter(({ event }) => event !== 'response.output_text.delta')
        .map(({ data: { sequence_number: _, ...data } }) => data);
    expect(unnumbered(replayed)).toEqual(unnumbered(live));
    const text = (events: typeof live) =>
      events
        .flatMap(({ event, data }) => (event === 'response.output_text.delta' ? [data.delta] : []))
        .join('');
    expect(text(replayed)).toBe(text(live));
  });

  it('error: an error event then response.failed, numbered on', () => {
    const call = parsedCall({ model: 'gpt-4o-mini', input: 'x', stream: true });
    const encoder = responsesFormat.encoder?.(call, 'req-3', CREATED);
    if (!encoder) throw new Error('the format streams');
    const body =
      encoder.opening() +
      (encoder.delta({ type: 'delta', content: 'Hel' }) ?? '') +
      encoder.error('internal_error', 'The brain failed.');
    const events = eventsOf(body);
    expect(events.slice(-2)).toEqual([
      {
        event: 'error',
        data: {
          type: 'error',
          code: 'internal_error',
          message: 'The brain failed.',
          param: null,
          sequence_number: 5,
        },
      },
      {
        event: 'response.failed',
        data: expect.objectContaining({
          type: 'response.failed',
          sequence_number: 6,
          response: expect.objectContaining({
            status: 'failed',
            error: { code: 'server_error', message: 'The brain failed.' },
            output: [expect.objectContaining({ type: 'message', status: 'incomplete' })],
          }),
        }),
      },
    ]);
  });
});

describe('the OpenAI Agents SDK', () => {
  it('runs one agent with one function tool to its final output against present()', async () => {
    setTracingDisabled(true);
    let sequence = 0;
    const client = clientAnswering(async (body) => {
      sequence += 1;
      const parsed = parseResponses(body, {});
      if (!parsed.ok) throw new Error(parsed.message);
      return toResponse(await brainAnswer(parsed.call, `req-agent-${sequence}`), parsed.call, CREATED);
    });
    const cities: string[] = [];
    const agent = new Agent({
      name: 'Weather agent',
      instructions: 'Answer with the weather tool.',
      tools: [
        tool({
          name: 'get_weather',
          description: 'The weather in a city',
          parameters: zod.object({ city: zod.string() }),
          execute: async ({ city }) => {
            cities.push(city);
            return `It is 21 degrees and sunny in ${city}.`;
          },
        }),
      ],
      model: new OpenAIResponsesModel(client as never, 'reference/test-tools'),
      modelSettings: { store: false },
    });
    const result = await run(agent, 'What is the weather in Paris?');
    expect(cities).toHaveLength(1);
    expect(String(result.finalOutput)).toContain('21 degrees and sunny');
    expect(sequence).toBe(2);
  });
});
