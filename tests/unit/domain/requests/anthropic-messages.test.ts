import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { ApiSuccess } from '../../../../shared/domain/brain/contract.js';
import {
  anthropicMessagesFormat,
  anthropicStreamEncoder,
  countTokens,
} from '../../../../shared/domain/requests/anthropic-messages.js';
import { HttpError } from '../../../../shared/errors.js';

const WEATHER = {
  name: 'get_weather',
  description: 'The weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const VALID = { model: 'claude-sonnet-4', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] };

const parse = (body: unknown, headers: Record<string, string> = {}) =>
  anthropicMessagesFormat.parse(body, headers);

function answer(response: unknown, outcome: 'approved' | 'rejected' = 'approved'): ApiSuccess {
  return {
    success: outcome === 'approved',
    decision: { decision_id: 'dec_1', outcome, reasoning: 'r', confidence: 0.9 },
    response: response as ApiSuccess['response'],
    payment: null,
    message: outcome === 'approved' ? 'ok' : 'Rejected: no',
    request_id: 'req_1',
  };
}

describe('parse', () => {
  it('a bare model is Anthropic, provider/model is split; every field goes to native_params', () => {
    const body = {
      ...VALID,
      system: [{ type: 'text', text: 'Be brief', cache_control: { type: 'ephemeral' } }],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 5,
      stop_sequences: ['END'],
      tools: [WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather' },
      metadata: { user_id: 'agent-7' },
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      service_tier: 'auto',
    };
    const parsed = parse(body, { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'a-1, b-2' });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { request } = parsed.call;
    expect(request).toMatchObject({
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      operation_type: 'chat',
    });
    expect(request.agent_id).toBe('agent-7');
    expect(request.max_tokens).toBe(100);
    expect(request.temperature).toBe(0.5);
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'Hello' },
    ]);
    expect(request.native_params).toEqual({
      format: 'anthropic',
      messages: body.messages,
      max_tokens: 100,
      system: body.system,
      temperature: 0.5,
      top_p: 0.9,
      top_k: 5,
      stop_sequences: ['END'],
      tools: [WEATHER],
      tool_choice: body.tool_choice,
      thinking: body.thinking,
      service_tier: 'auto',
      anthropic_version: '2023-06-01',
      anthropic_beta: ['a-1', 'b-2'],
    });
    expect(parsed.call.stream).toBe(true);
    expect(parsed.call.model).toBe('claude-sonnet-4');
    const split = parse({ ...VALID, model: 'reference/test-tools' });
    expect(split.ok && split.call.request).toMatchObject({ provider: 'reference', model: 'test-tools' });
  });

  it('headers: project and agent ids (the header wins over metadata.user_id), 1-128 characters', () => {
    const parsed = parse(
      { ...VALID, metadata: { user_id: 'body' } },
      { 'keygate-project-id': 'proj', 'keygate-agent-id': 'header' },
    );
    expect(parsed.ok && parsed.call.request).toMatchObject({ project_id: 'proj', agent_id: 'header' });
    const bad = parse(VALID, { 'keygate-project-id': 'x'.repeat(129) });
    expect(bad).toMatchObject({ ok: false, details: [{ path: 'Keygate-Project-Id' }] });
  });

  it('refuses unknown fields, naming them in details and message', () => {
    const parsed = parse({ ...VALID, container: 'c', extra: 1 });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.details.map((detail) => detail.path).sort()).toEqual(['container', 'extra']);
    expect(parsed.message).toContain('unknown field');
    const nested = parse({ ...VALID, messages: [{ role: 'user', content: 'x', name: 'n' }] });
    expect(nested).toMatchObject({ ok: false, details: [{ path: 'messages.0.name' }] });
  });

  it('requires model, max_tokens and messages', () => {
    const parsed = parse({});
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.details.map((detail) => detail.path).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it('checks blocks: tool_use only from the assistant, tool_result only from the user, images', () => {
    expect(
      parse({
        ...VALID,
        messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }],
      }).ok,
    ).toBe(false);
    expect(
      parse({
        ...VALID,
        messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 't' }] }],
      }).ok,
    ).toBe(false);
    const image = {
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: 'AAAA' },
    };
    expect(parse({ ...VALID, messages: [{ role: 'user', content: [image] }] }).ok).toBe(true);
    expect(
      parse({
        ...VALID,
        messages: [
          { role: 'user', content: [{ ...image, source: { ...image.source, media_type: 'image/bmp' } }] },
        ],
      }).ok,
    ).toBe(false);
  });

  it('refuses a tool_choice naming no tool, server tools, and bad ranges', () => {
    expect(parse({ ...VALID, tools: [WEATHER], tool_choice: { type: 'tool', name: 'other' } })).toMatchObject(
      {
        ok: false,
        details: [{ path: 'tool_choice.name' }],
      },
    );
    expect(parse({ ...VALID, tools: [{ ...WEATHER, type: 'web_search_20250305' }] }).ok).toBe(false);
    expect(parse({ ...VALID, tools: [{ ...WEATHER, name: 'bad name' }] }).ok).toBe(false);
    expect(parse({ ...VALID, temperature: 1.5 }).ok).toBe(false);
    expect(parse({ ...VALID, top_k: -1 }).ok).toBe(false);
    expect(parse({ ...VALID, max_tokens: 0 }).ok).toBe(false);
    expect(parse({ ...VALID, metadata: { user_id: 'a', other: 1 } }).ok).toBe(false);
    expect(parse({ ...VALID, model: 'Bad/x' }).ok).toBe(false);
  });

  it('pathOf names the caller’s fields', () => {
    expect(anthropicMessagesFormat.pathOf('provider')).toBe('model');
    expect(anthropicMessagesFormat.pathOf('project_id')).toBe('Keygate-Project-Id');
    expect(anthropicMessagesFormat.pathOf('agent_id')).toBe('metadata.user_id');
  });
});

describe('countTokens', () => {
  it('estimates a body without max_tokens, and refuses max_tokens or stream on it', () => {
    const { max_tokens: _maxTokens, ...body } = VALID;
    expect(countTokens(body, {})).toEqual({ ok: true, input_tokens: 3 });
    expect(countTokens(VALID, {}).ok).toBe(false);
    expect(countTokens({ ...body, stream: true }, {}).ok).toBe(false);
  });
});

const PARSED = (() => {
  const parsed = parse(VALID);
  if (!parsed.ok) throw new Error('invalid');
  return parsed.call;
})();

const TOOL_RESPONSE = {
  content: null,
  tool_calls: [
    { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
  ],
  finish_reason: 'tool_calls',
  usage: { input_tokens: 10, output_tokens: 5 },
};

describe('present', () => {
  it('text → a message with one text block, end_turn and usage', () => {
    const message = anthropicMessagesFormat.present(
      answer({ content: 'Hi', usage: { input_tokens: 3, output_tokens: 2 } }),
      PARSED,
      0,
    );
    expect(message).toMatchObject({
      id: 'msg_req_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4',
      content: [{ type: 'text', text: 'Hi' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 2 },
      keygate: { request_id: 'req_1' },
    });
  });

  it('tool calls → tool_use blocks with parsed input; {} when unparsable', () => {
    const message = anthropicMessagesFormat.present(answer(TOOL_RESPONSE), PARSED, 0) as Record<
      string,
      unknown
    >;
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    const broken = {
      ...TOOL_RESPONSE,
      tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
    };
    expect(
      (anthropicMessagesFormat.present(answer(broken), PARSED, 0) as { content: unknown[] }).content,
    ).toEqual([{ type: 'tool_use', id: 'c', name: 'f', input: {} }]);
  });

  it('stop reasons: length → max_tokens, stop_sequence → stop_sequence', () => {
    const stop = (finish: string) =>
      (
        anthropicMessagesFormat.present(answer({ content: 'x', finish_reason: finish }), PARSED, 0) as {
          stop_reason: string;
        }
      ).stop_reason;
    expect(stop('length')).toBe('max_tokens');
    expect(stop('stop_sequence')).toBe('stop_sequence');
    expect(stop('stop')).toBe('end_turn');
  });

  it('passes an Anthropic message on', () => {
    const native = {
      content: [{ type: 'text', text: 'native' }],
      stop_reason: 'max_tokens',
      usage: { input_tokens: 1, output_tokens: 9 },
    };
    expect(anthropicMessagesFormat.present(answer(native), PARSED, 0)).toMatchObject(native);
  });

  it('a decision other than approved is a forbidden HttpError with the brain’s message', () => {
    expect(() => anthropicMessagesFormat.present(answer(null, 'rejected'), PARSED, 0)).toThrow(HttpError);
    try {
      anthropicMessagesFormat.present(answer(null, 'rejected'), PARSED, 0);
    } catch (error) {
      expect(error).toMatchObject({ code: 'forbidden', message: 'Rejected: no' });
    }
  });
});

function eventsOf(sse: string): Array<{ event: string; data: Record<string, unknown> }> {
  return sse
    .split('\n\n')
    .filter((chunk) => chunk.length > 0)
    .map((chunk) => {
      const [eventLine, dataLine] = chunk.split('\n');
      return {
        event: eventLine?.slice('event: '.length) ?? '',
        data: JSON.parse(dataLine?.slice('data: '.length) ?? ''),
      };
    });
}

/** The official SDK's stream parser, fed our bytes through a fetch of its own. */
async function sdkFinalMessage(sse: string) {
  const client = new Anthropic({
    apiKey: 'kg_test_x',
    baseURL: 'http://keygate.test',
    maxRetries: 0,
    fetch: async () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }),
  });
  return client.messages
    .stream({ model: 'claude-sonnet-4', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] })
    .finalMessage();
}

const strip = (message: Record<string, unknown>) => {
  const { keygate: _keygate, ...rest } = message;
  return rest;
};

describe('encoder', () => {
  const liveText = () => {
    const encoder = anthropicStreamEncoder('claude-sonnet-4', 'req_1');
    const final = answer({
      content: 'Hello world',
      usage: { prompt_tokens: 3, completion_tokens: 2 },
      finish_reason: 'stop',
    });
    return (
      encoder.opening() +
      (encoder.delta({ type: 'delta', content: 'Hello ' }) ?? '') +
      (encoder.delta({ type: 'delta', content: 'world' }) ?? '') +
      encoder.closing(final)
    );
  };
  const liveTools = () => {
    const encoder = anthropicStreamEncoder('claude-sonnet-4', 'req_1');
    return (
      encoder.opening() +
      (encoder.delta({
        type: 'delta',
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }) ?? '') +
      (encoder.delta({ type: 'delta', tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) ??
        '') +
      (encoder.delta({ type: 'delta', tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }) ??
        '') +
      encoder.closing(answer(TOOL_RESPONSE))
    );
  };

  it('writes the events in Anthropic’s order', () => {
    expect(eventsOf(liveText()).map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const events = eventsOf(liveTools());
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[2]?.data).toEqual({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} },
    });
    expect(events[6]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 10, output_tokens: 5 },
    });
  });

  it('the SDK assembles the same message as present, text and tool use', async () => {
    const text = answer({
      content: 'Hello world',
      usage: { prompt_tokens: 3, completion_tokens: 2 },
      finish_reason: 'stop',
    });
    const expectedText = strip(anthropicMessagesFormat.present(text, PARSED, 0) as Record<string, unknown>);
    expect(await sdkFinalMessage(liveText())).toMatchObject(expectedText);
    const expectedTools = strip(
      anthropicMessagesFormat.present(answer(TOOL_RESPONSE), PARSED, 0) as Record<string, unknown>,
    );
    expect(await sdkFinalMessage(liveTools())).toMatchObject(expectedTools);
  });

  it('replay is the whole answer as the same events, assembled the same', async () => {
    const encoder = anthropicStreamEncoder('claude-sonnet-4', 'req_1');
    const both = answer({ ...TOOL_RESPONSE, content: 'Let me look' });
    const replayed = encoder.replay(both);
    expect(eventsOf(replayed).map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const expected = strip(anthropicMessagesFormat.present(both, PARSED, 0) as Record<string, unknown>);
    expect(await sdkFinalMessage(replayed)).toMatchObject(expected);
  });

  it('an error event in Anthropic’s shape', () => {
    const encoder = anthropicStreamEncoder('m', 'r');
    expect(encoder.error('brain_unavailable', 'busy')).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n',
    );
  });
});
