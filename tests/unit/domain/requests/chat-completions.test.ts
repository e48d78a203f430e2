/**
 * POST /v1/chat/completions, its translation only (SPEC §3b): an OpenAI chat-completions body
 * and the keygate headers → the fields of one brain request (or every problem, named as the
 * caller wrote it), and the brain's answer → a `chat.completion` or a 403. The brain answers
 * are the reference brain's own.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import {
  type ApiSuccess,
  type BrainRequest,
  brainDecisionAnswerSchema,
  brainRequestSchema,
} from '../../../../shared/domain/brain/contract.js';
import {
  CHAT_ROLES,
  type ChatHeaders,
  chatChoiceOf,
  chatCompletionSchema,
  chatPathOf,
  chatUsageOf,
  DEFAULT_CHAT_PROVIDER,
  parseChatCompletion,
  splitModel,
  toChatCompletion,
  UNSUPPORTED_CHAT_FIELDS,
} from '../../../../shared/domain/requests/chat-completions.js';
import {
  apiRequestSchema,
  MESSAGE_ROLES,
  PROVIDER_PATTERN,
  type RequestFields,
} from '../../../../shared/domain/requests/schema.js';
import { type CallerIdentity, toBrainRequest } from '../../../../shared/domain/requests/transform.js';
import { HttpError } from '../../../../shared/errors.js';

const MESSAGES = [{ role: 'user', content: 'Say hello.' }];
const VALID = { model: 'gpt-4o-mini', messages: MESSAGES };

const CALLER: CallerIdentity = {
  userId: 'user-1',
  keyId: 'key_abc123',
  projectId: 'proj-key',
  projectBound: false,
};

/** The request fields of a body the test expects to be valid (the test fails otherwise). */
function accepted(body: unknown, headers: ChatHeaders = {}): RequestFields {
  const parsed = parseChatCompletion(body, headers);
  if (!parsed.ok) expect.fail(`expected a valid body, got ${JSON.stringify(parsed.details)}`);
  return parsed.request;
}

/** The details of a body the test expects to be refused (the test fails otherwise). */
function refused(body: unknown, headers: ChatHeaders = {}): { path: string; message: string }[] {
  const parsed = parseChatCompletion(body, headers);
  if (parsed.ok) expect.fail(`expected a refusal, got ${JSON.stringify(parsed.request)}`);
  expect(parsed.details.length).toBeGreaterThan(0);
  return parsed.details;
}

const pathsOf = (details: { path: string }[]) => details.map((detail) => detail.path);

describe('parseChatCompletion: the brain request fields', () => {
  it('maps a minimal body to an openai chat request', () => {
    const parsed = parseChatCompletion(VALID, {});

    expect(parsed).toEqual({
      ok: true,
      model: 'gpt-4o-mini',
      stream: false,
      includeUsage: false,
      request: {
        provider: 'openai',
        model: 'gpt-4o-mini',
        operation_type: 'chat',
        messages: [{ role: 'user', content: 'Say hello.' }],
      },
    });
  });

  it.each([
    ['anthropic/claude-haiku-4', 'anthropic', 'claude-haiku-4'],
    ['openrouter/meta/llama', 'openrouter', 'meta/llama'],
    ['ollama/llama3.1:8b', 'ollama', 'llama3.1:8b'],
    ['gpt-4o', 'openai', 'gpt-4o'],
  ])('splits %s at its first slash into provider %s and model %s', (model, provider, name) => {
    const parsed = parseChatCompletion({ ...VALID, model }, {});

    expect(parsed).toMatchObject({ ok: true, model, request: { provider, model: name } });
    expect(splitModel(model)).toEqual({ provider, model: name });
  });

  it.each([
    ['an uppercase provider', 'OpenAI/gpt-4o'],
    ['an empty provider', '/gpt-4o'],
    ['a provider starting with a dot', '.x/gpt-4o'],
    ['a provider over 64 characters', `${'p'.repeat(65)}/gpt-4o`],
    ['an empty model after the provider', 'openai/'],
    ['a model part over 128 characters', `openai/${'m'.repeat(129)}`],
    ['a bare model over 128 characters', 'm'.repeat(129)],
    ['an empty model', ''],
    ['a control character', 'gpt-4o\u0000'],
    ['a zero-width (format) character', 'openai/gpt\u200b4o'],
  ])('refuses %s, naming only model', (_case, model) => {
    const details = refused({ ...VALID, model });

    expect(new Set(pathsOf(details))).toEqual(new Set(['model']));
  });

  it('accepts the limits themselves: a 64-character provider and a 128-character model', () => {
    const request = accepted({ ...VALID, model: `${'p'.repeat(64)}/${'m'.repeat(128)}` });

    expect(request.provider).toHaveLength(64);
    expect(request.model).toHaveLength(128);
  });

  it('turns developer into system, joins text parts with a newline and passes name on', () => {
    const request = accepted({
      model: 'gpt-4o',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'system', content: 'Be kind.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'first' },
            { type: 'text', text: 'second' },
          ],
          name: 'alice',
        },
        { role: 'assistant', content: [{ type: 'text', text: 'only' }] },
        { role: 'tool', content: '42', tool_call_id: 'call_1' },
      ],
    });

    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'first\nsecond', name: 'alice' },
      { role: 'assistant', content: 'only' },
      { role: 'tool', content: '42', tool_call_id: 'call_1' },
    ]);
  });

  it.each([
    ['an unknown role', { role: 'function', content: 'x' }, 'messages.0.role'],
    [
      'an audio part',
      { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] },
      'messages.0.content',
    ],
    ['an empty parts array', { role: 'user', content: [] }, 'messages.0.content'],
    [
      'a part with an extra field',
      { role: 'user', content: [{ type: 'text', text: 'x', cache: 1 }] },
      'messages.0.content.0.cache',
    ],
    ['an empty name', { role: 'user', content: 'x', name: '' }, 'messages.0.name'],
    ['a name over 64 characters', { role: 'user', content: 'x', name: 'n'.repeat(65) }, 'messages.0.name'],
    [
      'an unknown message field',
      { role: 'tool', content: 'x', tool_call_id: 'c1', refusal: 'no' },
      'messages.0.refusal',
    ],
  ])('refuses a message with %s, naming %s', (_case, message, path) => {
    expect(pathsOf(refused({ ...VALID, messages: [message] }))).toEqual([path]);
  });

  it('refuses no messages, an empty list and 257 messages, and accepts 256', () => {
    const many = (count: number) => Array.from({ length: count }, () => ({ role: 'user', content: 'x' }));

    expect(pathsOf(refused({ model: 'gpt-4o' }))).toEqual(['messages']);
    expect(pathsOf(refused({ ...VALID, messages: [] }))).toEqual(['messages']);
    expect(pathsOf(refused({ ...VALID, messages: many(257) }))).toEqual(['messages']);
    expect(accepted({ ...VALID, messages: many(256) }).messages).toHaveLength(256);
  });

  it('passes temperature and top_p on at their bounds', () => {
    expect(accepted({ ...VALID, temperature: 0, top_p: 0 })).toMatchObject({ temperature: 0, top_p: 0 });
    expect(accepted({ ...VALID, temperature: 2, top_p: 1 })).toMatchObject({ temperature: 2, top_p: 1 });
  });

  it.each([
    ['temperature', -0.01],
    ['temperature', 2.01],
    ['top_p', -0.01],
    ['top_p', 1.01],
    ['temperature', '1'],
    ['max_tokens', 0],
    ['max_tokens', 1.5],
    ['max_completion_tokens', 0],
    ['max_completion_tokens', Number.MAX_SAFE_INTEGER + 2],
  ])('refuses %s %j', (field, value) => {
    expect(new Set(pathsOf(refused({ ...VALID, [field]: value })))).toEqual(new Set([field]));
  });

  it.each([
    ['max_tokens alone', { max_tokens: 64 }, 64],
    ['max_completion_tokens alone', { max_completion_tokens: 32 }, 32],
    ['both, equal', { max_tokens: 16, max_completion_tokens: 16 }, 16],
  ])('sends %s to the brain as max_tokens', (_case, fields, maxTokens) => {
    const request = accepted({ ...VALID, ...fields });

    expect(request.max_tokens).toBe(maxTokens);
    expect(request).not.toHaveProperty('max_completion_tokens');
  });

  it('refuses max_tokens and max_completion_tokens that differ, naming max_completion_tokens', () => {
    const details = refused({ ...VALID, max_tokens: 16, max_completion_tokens: 32 });

    expect(pathsOf(details)).toEqual(['max_completion_tokens']);
    expect(details[0]?.message).toMatch(/differ/);
  });

  it('sends user as agent_id', () => {
    expect(accepted({ ...VALID, user: 'agent-7' })).toMatchObject({ agent_id: 'agent-7' });
    expect(accepted(VALID)).not.toHaveProperty('agent_id');
  });
});

describe('parseChatCompletion: the keygate headers', () => {
  it('sends Keygate-Project-Id as project_id and Keygate-Agent-Id as agent_id', () => {
    const request = accepted(VALID, { projectId: 'proj-7', agentId: 'agent-header' });

    expect(request).toMatchObject({ project_id: 'proj-7', agent_id: 'agent-header' });
  });

  it('lets Keygate-Agent-Id win over the body’s user', () => {
    expect(accepted({ ...VALID, user: 'agent-body' }, { agentId: 'agent-header' }).agent_id).toBe(
      'agent-header',
    );
  });

  it('leaves project_id to the key when the header is absent', () => {
    expect(accepted(VALID, { projectId: undefined, agentId: undefined })).not.toHaveProperty('project_id');
  });

  it.each([
    ['Keygate-Project-Id', { projectId: 'p'.repeat(129) }],
    ['Keygate-Project-Id', { projectId: '' }],
    ['Keygate-Agent-Id', { agentId: 'a'.repeat(129) }],
    ['Keygate-Agent-Id', { agentId: '' }],
  ] as const)('refuses a bad %s, naming the header', (header, headers) => {
    expect(pathsOf(refused(VALID, headers))).toEqual([header]);
  });

  it('names a bad header together with the body’s problems', () => {
    const details = refused({ ...VALID, temperature: 9 }, { agentId: 'a'.repeat(129) });

    expect(pathsOf(details).sort()).toEqual(['Keygate-Agent-Id', 'temperature']);
  });

  it('accepts 128-character headers', () => {
    const request = accepted(VALID, { projectId: 'p'.repeat(128), agentId: 'a'.repeat(128) });

    expect(request.project_id).toHaveLength(128);
    expect(request.agent_id).toHaveLength(128);
  });
});

describe('lengths are JavaScript string lengths (UTF-16 code units)', () => {
  it.each([
    ['user', { ...VALID, user: '😀'.repeat(65) }, {}, 'user'],
    [
      'a message name',
      { ...VALID, messages: [{ role: 'user', content: 'x', name: '😀'.repeat(33) }] },
      {},
      'messages.0.name',
    ],
    ['Keygate-Project-Id', VALID, { projectId: '😀'.repeat(65) }, 'Keygate-Project-Id'],
    ['Keygate-Agent-Id', VALID, { agentId: '𝔸'.repeat(65) }, 'Keygate-Agent-Id'],
    ['the model part', { ...VALID, model: `openai/${'😀'.repeat(65)}` }, {}, 'model'],
  ])('refuses %s whose emoji make it longer than its limit', (_case, body, headers, path) => {
    expect(pathsOf(refused(body, headers))).toEqual([path]);
  });

  it('accepts exactly the limit in emoji: 64 in user, 32 in a name, 64 in a header', () => {
    const request = accepted(
      { ...VALID, user: '😀'.repeat(64), messages: [{ role: 'user', content: 'x', name: '😀'.repeat(32) }] },
      { projectId: '😀'.repeat(64) },
    );

    expect(request.agent_id).toHaveLength(128);
    expect(request.project_id).toHaveLength(128);
    expect(request.messages?.[0]?.name).toHaveLength(64);
  });
});

describe('metadata: the same rules as /api/v1/requests', () => {
  const withMetadata = (metadata: string) =>
    JSON.parse(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":${metadata}}`);

  it('passes metadata on', () => {
    expect(accepted({ ...VALID, metadata: { team: 'a', tags: ['x'] } }).metadata).toEqual({
      team: 'a',
      tags: ['x'],
    });
  });

  it.each([
    ['__proto__ at the top', '{"__proto__":{"admin":true}}', 'metadata.__proto__'],
    ['__proto__ nested', '{"a":{"b":{"__proto__":{"admin":true}}}}', 'metadata.a.b.__proto__'],
    ['constructor', '{"constructor":{"prototype":1}}', 'metadata.constructor'],
    ['prototype in an array', '{"list":[{"prototype":1}]}', 'metadata.list.0.prototype'],
    ['5 levels of nesting', '{"a":{"b":{"c":{"d":{"e":1}}}}}', 'metadata.a.b.c.d'],
    ['an array', '[1]', 'metadata'],
    ['a string', '"x"', 'metadata'],
  ])('refuses %s', (_case, metadata, path) => {
    expect(pathsOf(refused(withMetadata(metadata)))).toEqual([path]);
  });

  it('accepts 4 levels of nesting and 8,192 bytes, and refuses one byte more', () => {
    const fits = { k: `${'é'.repeat(4000)}${'x'.repeat(184)}` };
    const tooBig = { k: `${'é'.repeat(4000)}${'x'.repeat(185)}` };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(8192);

    expect(accepted({ ...VALID, metadata: { a: { b: { c: { d: 1 } } } } }).metadata).toBeDefined();
    expect(accepted({ ...VALID, metadata: fits }).metadata).toEqual(fits);
    expect(pathsOf(refused({ ...VALID, metadata: tooBig }))).toEqual(['metadata']);
  });

  it('refuses __proto__ at the top of the body as an unknown field', () => {
    const body = JSON.parse('{"__proto__":{},"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}');

    expect(refused(body)).toEqual([{ path: '__proto__', message: 'unknown field "__proto__"' }]);
  });
});

describe('parseChatCompletion: what keygate cannot honour', () => {
  it('accepts n: 1 and refuses n: 2, naming n', () => {
    expect(accepted({ ...VALID, n: 1 })).not.toHaveProperty('n');
    expect(pathsOf(refused({ ...VALID, n: 2 }))).toEqual(['n']);
  });

  it('accepts stream: false and stream: true, and says which on the parse result, never to the brain', () => {
    const plain = parseChatCompletion({ ...VALID, stream: false }, {});
    const streamed = parseChatCompletion({ ...VALID, stream: true }, {});

    expect(plain).toMatchObject({ ok: true, stream: false, includeUsage: false });
    expect(streamed).toMatchObject({ ok: true, stream: true, includeUsage: false });
    expect(accepted({ ...VALID, stream: true })).not.toHaveProperty('stream');
  });

  it.each(UNSUPPORTED_CHAT_FIELDS)('refuses %s as not supported, never as an unknown field', (field) => {
    const details = refused({ ...VALID, [field]: {} });

    expect(details).toEqual([{ path: field, message: expect.stringMatching(/not supported/) }]);
  });

  it.each(UNSUPPORTED_CHAT_FIELDS)('takes %s: null as absent, as OpenAI does', (field) => {
    expect(accepted({ ...VALID, [field]: null })).toEqual(accepted(VALID));
  });

  it.each([false, 0, '', []])('refuses logprobs %j: any value but null is named', (value) => {
    expect(pathsOf(refused({ ...VALID, logprobs: value }))).toEqual(['logprobs']);
  });

  it('names every unsupported field at once, each once', () => {
    const body = { ...VALID, ...Object.fromEntries(UNSUPPORTED_CHAT_FIELDS.map((field) => [field, 1])) };

    const details = refused(body);

    expect(pathsOf(details).sort()).toEqual([...UNSUPPORTED_CHAT_FIELDS].sort());
    expect(details.every((detail) => /not supported/.test(detail.message))).toBe(true);
  });

  it.each(['temprature', 'user_id', 'provider', 'operation_type', 'prompt', 'best_of'])(
    'refuses the unknown field %s',
    (field) => {
      expect(refused({ ...VALID, [field]: 'x' })).toEqual([
        { path: field, message: `unknown field "${field}"` },
      ]);
    },
  );

  it.each(['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'user', 'metadata', 'stream', 'n'])(
    'takes null for the optional field %s as absent (OpenAI SDKs send nulls)',
    (field) => {
      expect(parseChatCompletion({ ...VALID, [field]: null }, {})).toEqual(parseChatCompletion(VALID, {}));
    },
  );

  it.each([
    ['model', { messages: MESSAGES, model: null }],
    ['messages', { model: 'gpt-4o', messages: null }],
  ])('refuses null for the required field %s', (field, body) => {
    expect(pathsOf(refused(body))).toEqual([field]);
  });

  it('names an unsupported field inside a message as unknown there, besides the top-level one', () => {
    const details = refused({
      ...VALID,
      logprobs: true,
      messages: [{ role: 'user', content: 'x', logprobs: 1 }],
    });

    expect(details).toEqual([
      { path: 'logprobs', message: expect.stringMatching(/not supported/) },
      { path: 'messages.0.logprobs', message: 'unknown field "logprobs"' },
    ]);
  });

  it('takes a message name of null as absent', () => {
    expect(accepted({ ...VALID, messages: [{ role: 'user', content: 'x', name: null }] }).messages).toEqual([
      { role: 'user', content: 'x' },
    ]);
  });

  it.each([null, [], 'text', 42])('refuses the body %j', (body) => {
    expect(refused(body)).toHaveLength(1);
  });
});

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const hasForbiddenKey = (value: unknown): boolean =>
  value !== null &&
  typeof value === 'object' &&
  Object.entries(value).some(([key, child]) => FORBIDDEN.has(key) || hasForbiddenKey(child));

/** Text of 1..max UTF-16 code units, any plane, no control or format characters. */
const text = (max: number, options: { slash?: boolean } = {}) =>
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: max })
    .filter((value) => value.length <= max && !CONTROL_OR_FORMAT.test(value))
    .filter((value) => options.slash !== false || !value.includes('/'));

const chatModels = fc.oneof(
  fc.constantFrom('gpt-4o', 'gpt-4o-mini', 'anthropic/claude-haiku-4', 'openrouter/meta/llama'),
  text(128, { slash: false }),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/), text(128))
    .map(([provider, model]) => `${provider}/${model}`),
);

const content = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.array(
    fc.record({ type: fc.constant('text' as const), text: fc.string({ unit: 'binary', maxLength: 20 }) }),
    { minLength: 1, maxLength: 3 },
  ),
);

const chatMessages = fc.array(
  fc
    .record(
      { role: fc.constantFrom(...CHAT_ROLES), content, name: text(64), tool_call_id: text(64) },
      { requiredKeys: ['role', 'content', 'tool_call_id'] },
    )
    // A tool message answers a call and names it; no other message carries the id.
    .map(({ tool_call_id, ...message }) =>
      message.role === 'tool' ? { ...message, tool_call_id } : message,
    ),
  { minLength: 1, maxLength: 4 },
);

/** OpenAI bodies valid by construction (SPEC §3b), with where their token limit is written. */
const validChats = fc
  .record(
    {
      model: chatModels,
      messages: chatMessages,
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      user: text(128),
      metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      n: fc.constant(1),
      stream: fc.constant(false),
    },
    { requiredKeys: ['model', 'messages'] },
  )
  .filter((body) => !hasForbiddenKey(body.metadata));

const tokenFields = fc.oneof(
  fc.constant({}),
  fc
    .integer({ min: 1, max: 1_000_000 })
    .chain((tokens) =>
      fc.constantFrom(
        { max_tokens: tokens },
        { max_completion_tokens: tokens },
        { max_tokens: tokens, max_completion_tokens: tokens },
      ),
    ),
);

const chatHeaders = fc.record({ projectId: text(128), agentId: text(128) }, { requiredKeys: [] });

/** Where each part's text sits in `joined`, in order, or undefined when one is missing. */
function offsetsInOrder(joined: string, parts: readonly string[]): number[] | undefined {
  const offsets: number[] = [];
  let from = 0;
  for (const part of parts) {
    const at = joined.indexOf(part, from);
    if (at < 0) return undefined;
    offsets.push(at);
    from = at + part.length;
  }
  return offsets;
}

describe('property: every valid body becomes a request the brain contract accepts', () => {
  const valid = fc
    .tuple(validChats, tokenFields, chatHeaders)
    .map(([chat, tokens, headers]) => ({ body: { ...chat, ...tokens }, tokens, headers }));

  it('is a /api/v1/requests body (names and tool call ids of messages aside) the brain contract accepts, and nothing more', () => {
    fc.assert(
      fc.property(valid, ({ body, headers }) => {
        const request = accepted(body, headers);

        // Whatever the route, the brain gets only what the native route itself accepts:
        // no OpenAI-only field (n, stream, user, max_completion_tokens) and no value out of bounds.
        const withoutNames = {
          ...request,
          messages: request.messages?.map(({ role, content }) => ({ role, content })),
        };
        expect(apiRequestSchema.safeParse(withoutNames).error?.issues).toBeUndefined();
        expect(request.operation_type).toBe('chat');
        const brainRequest = toBrainRequest(request, CALLER, 'req-property');
        expect(brainRequestSchema.safeParse(brainRequest).error?.issues).toBeUndefined();
        expect(brainRequest.request_source).toBe('api');
        expect(brainRequest.project_id).toBe(headers.projectId ?? CALLER.projectId);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the messages: count, order, roles, names and every character of their text', () => {
    fc.assert(
      fc.property(valid, ({ body, headers }) => {
        const messages = accepted(body, headers).messages ?? [];

        expect(messages).toHaveLength(body.messages.length);
        for (const [index, message] of messages.entries()) {
          const sent = body.messages[index];
          if (!sent) expect.fail(`no message ${index} in the body`);
          expect(MESSAGE_ROLES).toContain(message.role);
          // A role both vocabularies share is never renamed.
          if ((MESSAGE_ROLES as readonly string[]).includes(sent.role)) expect(message.role).toBe(sent.role);
          expect(message.name).toBe(sent.name);
          expect(message.tool_call_id).toBe('tool_call_id' in sent ? sent.tool_call_id : undefined);
          if (typeof sent.content === 'string') {
            expect(message.content).toBe(sent.content);
          } else {
            // Every part's text, in order, one separator character between parts and nothing else.
            const texts = sent.content.map((part) => part.text);
            expect(offsetsInOrder(message.content, texts)).toBeDefined();
            const textLength = texts.reduce((sum, text) => sum + text.length, 0);
            expect(message.content.length).toBe(textLength + texts.length - 1);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('passes the model, the sampling and token settings, the metadata and the ids through unchanged', () => {
    fc.assert(
      fc.property(valid, ({ body, tokens, headers }) => {
        const parsed = parseChatCompletion(body, headers);
        if (!parsed.ok) expect.fail(JSON.stringify(parsed.details));
        const { request } = parsed;

        // The model round-trips: the answer names it as the caller wrote it, and the brain's
        // provider and model put back together are that name (a bare name is OpenAI's).
        expect(parsed.model).toBe(body.model);
        expect(request.provider).toMatch(PROVIDER_PATTERN);
        if (body.model.includes('/')) {
          expect(`${request.provider}/${request.model}`).toBe(body.model);
        } else {
          expect(request).toMatchObject({ provider: DEFAULT_CHAT_PROVIDER, model: body.model });
        }

        expect(request.temperature).toBe(body.temperature);
        expect(request.top_p).toBe(body.top_p);
        const tokenValues = Object.values(tokens);
        if (tokenValues.length === 0) expect(request.max_tokens).toBeUndefined();
        else expect(tokenValues).toContain(request.max_tokens);
        expect(request.metadata).toEqual(body.metadata);
        expect(request.project_id).toBe(headers.projectId);
        // The header names the agent when given, else the body's user.
        expect(request.agent_id).toBe(headers.agentId ?? body.user);
      }),
      { numRuns: 300 },
    );
  });

  it('is a pure function of the body and headers: the same answer twice, the body left as it was', () => {
    fc.assert(
      fc.property(valid, ({ body, headers }) => {
        const before = structuredClone(body);

        const first = parseChatCompletion(body, headers);
        const second = parseChatCompletion(body, headers);

        expect(second).toEqual(first);
        expect(body).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });

  it('never lets through a body the brain contract refuses, however it is mutated', () => {
    const noise = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null));
    const mutated = fc
      .tuple(
        validChats,
        fc.dictionary(
          fc.constantFrom(
            'model',
            'messages',
            'temperature',
            'max_tokens',
            'user',
            'n',
            'stream',
            'metadata',
          ),
          noise,
        ),
      )
      .map(([body, changes]) => ({ ...body, ...changes }));

    fc.assert(
      fc.property(mutated, chatHeaders, (body, headers) => {
        const parsed = parseChatCompletion(body, headers);

        if (parsed.ok) {
          expect(brainRequestSchema.safeParse(toBrainRequest(parsed.request, CALLER, 'req-x')).success).toBe(
            true,
          );
        } else {
          expect(parsed.details.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** The reference brain's answer to a chat request, as the pipeline hands it to toChatCompletion. */
async function brainAnswer(overrides: Partial<BrainRequest> = {}): Promise<ApiSuccess> {
  const request = toBrainRequest(accepted(VALID), CALLER, 'req-0001');
  const answer = brainDecisionAnswerSchema.parse(await referenceBrain({ ...request, ...overrides }));
  return { ...answer, request_id: 'req-0001' };
}

describe('toChatCompletion', () => {
  const CREATED = 1_760_000_000;

  it('turns an approved decision into a chat.completion that matches chatCompletionSchema', async () => {
    const answer = await brainAnswer();

    const completion = toChatCompletion(answer, 'gpt-4o-mini', CREATED);

    expect(chatCompletionSchema.safeParse(completion).success).toBe(true);
    const response = answer.response as {
      content: string;
      usage: { input_tokens: number; output_tokens: number };
    };
    expect(completion).toEqual({
      id: 'chatcmpl-req-0001',
      object: 'chat.completion',
      created: CREATED,
      model: 'gpt-4o-mini',
      choices: [
        { index: 0, message: { role: 'assistant', content: response.content }, finish_reason: 'stop' },
      ],
      usage: {
        prompt_tokens: response.usage.input_tokens,
        completion_tokens: response.usage.output_tokens,
        total_tokens: response.usage.input_tokens + response.usage.output_tokens,
      },
      keygate: { request_id: 'req-0001', decision: answer.decision, payment: answer.payment },
    });
  });

  it('names the model as the caller wrote it, provider included', async () => {
    const completion = toChatCompletion(await brainAnswer(), 'openai/gpt-4o-mini', CREATED);

    expect(completion.model).toBe('openai/gpt-4o-mini');
  });

  it('passes on the choices and usage of a response that already speaks OpenAI', async () => {
    const choices = [
      { index: 0, message: { role: 'assistant', content: 'Hi!' }, finish_reason: 'length' },
      { index: 1, message: { role: 'assistant', content: null }, finish_reason: null },
    ];
    const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
    const answer = { ...(await brainAnswer()), response: { id: 'x', choices, usage } };

    const completion = toChatCompletion(answer, 'gpt-4o', CREATED);

    expect(completion).toMatchObject({ id: 'chatcmpl-req-0001', choices, usage });
    expect(chatCompletionSchema.safeParse(completion).success).toBe(true);
  });

  it.each([
    ['a string', 'Plain text answer.', 'Plain text answer.'],
    ['an object with text', { text: 'From text.' }, 'From text.'],
    ['null', null, ''],
    ['another object, as JSON', { answer: 42 }, '{"answer":42}'],
  ])('takes the content of %s response', async (_case, response, content) => {
    const answer = { ...(await brainAnswer()), response };

    const completion = toChatCompletion(answer, 'gpt-4o', CREATED);

    expect(completion.choices).toEqual([
      { index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' },
    ]);
    expect(completion.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    expect(chatCompletionSchema.safeParse(completion).success).toBe(true);
  });

  it('refuses the reference brain’s rejection with 403 forbidden and the brain’s message', async () => {
    const answer = await brainAnswer({ api_provider: 'reference', model_name: 'test-reject' });

    const error = (() => {
      try {
        toChatCompletion(answer, 'reference/test-reject', CREATED);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 403, code: 'forbidden', message: answer.message });
    expect(answer.message).toMatch(/^Rejected: /);
  });

  it.each([
    ['rejected', true],
    ['escalated', true],
    ['quarantined', true],
    ['escalated', false],
    ['approved', false],
  ] as const)('answers 403 for a %s decision with brain success %s', async (outcome, success) => {
    const approved = await brainAnswer();
    const answer: ApiSuccess = {
      ...approved,
      success,
      decision: { ...approved.decision, outcome },
      message: `brain says ${outcome}`,
    };

    expect(() => toChatCompletion(answer, 'gpt-4o', CREATED)).toThrow(
      expect.objectContaining({ status: 403, code: 'forbidden', message: `brain says ${outcome}` }),
    );
  });

  it('names the outcome when the brain gave no message', async () => {
    const approved = await brainAnswer();
    const answer: ApiSuccess = {
      ...approved,
      success: false,
      decision: { ...approved.decision, outcome: 'escalated' },
      message: '',
    };

    expect(() => toChatCompletion(answer, 'gpt-4o', CREATED)).toThrow(/escalated/);
  });
});

describe('toChatCompletion and chatChoiceOf: tool calls', () => {
  const CREATED = 1_760_000_000;
  const CALL = {
    id: 'call_abc',
    type: 'function',
    function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
  };

  it('answers the reference brain’s tool call as OpenAI’s message with content null and finish_reason tool_calls', async () => {
    const answer = await brainAnswer({
      api_provider: 'reference',
      model_name: 'test-tools',
      request_params: {
        messages: [{ role: 'user', content: 'Weather?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      },
    });

    const completion = toChatCompletion(answer, 'reference/test-tools', CREATED);

    expect(chatCompletionSchema.safeParse(completion).success).toBe(true);
    const toolCalls = (answer.response as { tool_calls: unknown[] }).tool_calls;
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: null, tool_calls: toolCalls },
        finish_reason: 'tool_calls',
      },
    ]);
    expect(toolCalls).toEqual([
      {
        id: expect.stringMatching(/^call_/),
        type: 'function',
        function: { name: 'get_weather', arguments: '{}' },
      },
    ]);
  });

  it('keeps text beside tool calls, and says tool_calls whatever the provider’s reason', () => {
    expect(chatChoiceOf({ content: 'Looking it up.', tool_calls: [CALL], finish_reason: 'stop' })).toEqual({
      message: { role: 'assistant', content: 'Looking it up.', tool_calls: [CALL] },
      finish_reason: 'tool_calls',
    });
  });

  it('writes arguments given as an object as their JSON, and an id missing as call_<index>', () => {
    const choice = chatChoiceOf({ tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] });

    expect(choice.message.tool_calls).toEqual([
      { id: 'call_0', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
    ]);
  });

  it.each([
    ['no tool calls', { content: 'hi' }, 'stop'],
    ['the provider’s reason', { content: 'hi', finish_reason: 'length' }, 'length'],
    ['an empty tool calls list', { content: 'hi', tool_calls: [] }, 'stop'],
  ])('answers %s with its text and finish_reason %s', (_case, response, reason) => {
    expect(chatChoiceOf(response)).toEqual({
      message: { role: 'assistant', content: 'hi' },
      finish_reason: reason,
    });
  });

  it('agrees with toChatCompletion for any response without choices', async () => {
    const approved = await brainAnswer();
    const responses: ApiSuccess['response'][] = [
      'text',
      { content: 'c', tool_calls: [CALL] },
      { text: 't' },
      null,
      { other: 1 },
    ];
    for (const response of responses) {
      const completion = toChatCompletion({ ...approved, response }, 'gpt-4o', CREATED);

      expect(completion.choices).toEqual([{ index: 0, ...chatChoiceOf(response) }]);
      expect(completion.usage).toEqual(chatUsageOf(response));
    }
  });
});

describe('chatPathOf', () => {
  it.each([
    ['provider', 'model'],
    ['model', 'model'],
    ['project_id', 'Keygate-Project-Id'],
    ['agent_id', 'Keygate-Agent-Id'],
    ['operation_type', 'operation_type'],
    ['messages', 'messages'],
  ])('names %s as %s', (path, chatPath) => {
    expect(chatPathOf(path)).toBe(chatPath);
  });
});
