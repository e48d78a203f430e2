import { InvokeCommand, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import type { BrainRequest } from '../../../../shared/domain/brain/contract.js';
import { MESSAGE_ROLES, OPERATION_TYPES } from '../../../../shared/domain/requests/schema.js';
import { DEFAULT_MESSAGES } from '../../../../shared/errors.js';
import { invokeOutput } from '../../../support/brain.js';
import { DEFAULT_CALLER, type ProxyEventOptions, proxyEvent } from '../../../support/events.js';
import { detailPaths, type ParsedAnswer, parseAnswer } from '../../../support/http.js';
import { lambdaContext } from '../../../support/lambda.js';
import { requestsHandlerUnderTest } from '../../../support/requests-handler.js';

const { lambdaMock, dynamoMock, handler } = requestsHandlerUnderTest();

const VALID = { provider: 'openai', model: 'gpt-4o-mini', operation_type: 'chat', prompt: 'Say hello.' };

/** The brain request the handler builds for VALID. */
const brainRequestFor = (): BrainRequest => ({
  request_id: 'req-fixed',
  user_id: DEFAULT_CALLER.userId,
  key_id: DEFAULT_CALLER.keyId,
  project_id: DEFAULT_CALLER.projectId,
  agent_id: null,
  api_provider: VALID.provider,
  model_name: VALID.model,
  operation_type: 'chat',
  request_params: { prompt: VALID.prompt },
  metadata: {},
  request_source: 'api',
});

async function send(options: ProxyEventOptions & { json?: unknown } = {}): Promise<ParsedAnswer> {
  const { json, ...rest } = options;
  const event = proxyEvent({
    body: json === undefined ? JSON.stringify(VALID) : JSON.stringify(json),
    ...rest,
  });
  const result = await handler(event, lambdaContext());
  return parseAnswer(result, event.requestContext.requestId);
}

function brainRequests(): BrainRequest[] {
  return lambdaMock.commandCalls(InvokeCommand).map((call) => {
    const payload = call.args[0].input.Payload;
    const text = typeof payload === 'string' ? payload : new TextDecoder().decode(payload as Uint8Array);
    return JSON.parse(text) as BrainRequest;
  });
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const hasForbiddenKey = (value: unknown): boolean =>
  value !== null &&
  typeof value === 'object' &&
  Object.entries(value).some(([key, child]) => FORBIDDEN.has(key) || hasForbiddenKey(child));
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

/** Bodies valid by construction (SPEC §3), excluding the reference brain's failing test models. */
const validBodies = fc
  .record(
    {
      provider: fc.oneof(
        fc.constantFrom('openai', 'anthropic', 'ollama'),
        fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/),
      ),
      model: fc.oneof(
        fc.constantFrom('gpt-4o', 'gpt-4o-mini', 'claude-haiku-4', 'llama3.1'),
        fc.string({ minLength: 1, maxLength: 128 }).filter((model) => !CONTROL_OR_FORMAT.test(model)),
      ),
      operation_type: fc.constantFrom(...OPERATION_TYPES),
      messages: fc.array(
        fc.record({ role: fc.constantFrom(...MESSAGE_ROLES), content: fc.string({ maxLength: 100 }) }),
        { minLength: 1, maxLength: 5 },
      ),
      prompt: fc.string({ minLength: 1, maxLength: 300 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      max_tokens: fc.integer({ min: 1, max: 100_000 }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      project_id: fc.string({ minLength: 1, maxLength: 128 }),
      agent_id: fc.string({ minLength: 1, maxLength: 128 }),
      metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    },
    { requiredKeys: ['provider', 'model', 'operation_type'] },
  )
  .filter((body) => body.messages !== undefined || body.prompt !== undefined)
  .filter((body) => !hasForbiddenKey(body.metadata))
  .filter((body) => !(body.provider === 'reference' && body.model.startsWith('test-')));

const callers = fc.record({
  userId: fc.string({ minLength: 1, maxLength: 40 }),
  keyId: fc.stringMatching(/^key_[0-9A-Za-z]{1,22}$/),
  projectId: fc.string({ minLength: 1, maxLength: 40 }),
  principalId: fc.string({ minLength: 1, maxLength: 40 }),
  integrationLatency: fc.nat(),
});

describe('property: every answer is in the envelope and never a 5xx', () => {
  it('answers 200 or 400 for any JSON body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (json) => {
        const answer = await send({ json });

        expect([200, 400]).toContain(answer.status);
        if (answer.status === 400) expect(answer.error?.code).toBe('invalid_request');
      }),
      { numRuns: 300 },
    );
  });

  it('answers 200 or 400 for request-shaped bodies with wrong types, nulls and extra fields', async () => {
    const noise = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null));
    const mutated = fc
      .tuple(
        validBodies,
        fc.dictionary(
          fc.constantFrom('provider', 'model', 'temperature', 'messages', 'user_id', 'extra'),
          noise,
        ),
      )
      .map(([body, changes]) => ({ ...body, ...changes }));

    await fc.assert(
      fc.asyncProperty(mutated, async (json) => {
        const answer = await send({ json });

        expect([200, 400]).toContain(answer.status);
        if ('user_id' in json || 'extra' in json) expect(answer.status).toBe(400);
      }),
      { numRuns: 300 },
    );
  });

  it('answers 400 invalid_json for any text that is not JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        const event = proxyEvent({ body: text });
        const answer = parseAnswer(await handler(event, lambdaContext()), event.requestContext.requestId);

        expect([200, 400]).toContain(answer.status);
        if (!parses) expect(answer.error?.code).toBe('invalid_json');
      }),
      { numRuns: 300 },
    );
  });

  it('checks authentication, then method, then media type, then size, then the body — in that order', async () => {
    const oversized = JSON.stringify({ ...VALID, prompt: 'x'.repeat(1024 * 1024) });
    const requestShapes = fc.record({
      authorized: fc.boolean(),
      method: fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      contentType: fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/jsonp',
        undefined,
      ),
      body: fc.constantFrom(JSON.stringify(VALID), '{bad', oversized, JSON.stringify({ nope: 1 })),
    });

    await fc.assert(
      fc.asyncProperty(requestShapes, async (shape) => {
        const headers: Record<string, string> = shape.contentType
          ? { 'content-type': shape.contentType }
          : {};
        const event = proxyEvent({
          method: shape.method,
          headers,
          body: shape.body,
          authorizer: shape.authorized ? { ...DEFAULT_CALLER } : null,
        });

        const answer = parseAnswer(await handler(event, lambdaContext()), event.requestContext.requestId);

        const json =
          shape.contentType !== undefined && /^application\/json( *;.*)?$/i.test(shape.contentType);
        const expected = !shape.authorized
          ? 401
          : shape.method !== 'POST'
            ? 405
            : !json
              ? 415
              : shape.body === oversized
                ? 413
                : shape.body === JSON.stringify(VALID)
                  ? 200
                  : 400;
        expect(answer.status).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe('property: the transformation to the brain request', () => {
  it('maps every field, takes identity from the authorizer context and defaults the project to the key’s', async () => {
    await fc.assert(
      fc.asyncProperty(validBodies, callers, fc.uuid(), async (body, caller, requestId) => {
        lambdaMock.resetHistory();
        const event = proxyEvent({ body: JSON.stringify(body), authorizer: caller, requestId });

        const answer = parseAnswer(await handler(event, lambdaContext()), requestId);

        expect(answer.status).toBe(200);
        const [sent, ...more] = brainRequests();
        expect(more).toEqual([]);
        const params: Record<string, unknown> = {};
        for (const field of ['messages', 'prompt', 'temperature', 'max_tokens', 'top_p'] as const) {
          if (body[field] !== undefined) params[field] = body[field];
        }
        expect(sent).toEqual({
          request_id: requestId,
          user_id: caller.userId,
          key_id: caller.keyId,
          project_id: body.project_id ?? caller.projectId,
          agent_id: body.agent_id ?? null,
          api_provider: body.provider,
          model_name: body.model,
          operation_type: body.operation_type,
          request_params: JSON.parse(JSON.stringify(params)),
          metadata: JSON.parse(JSON.stringify(body.metadata ?? {})),
          request_source: 'api',
        });
        const expected = (await referenceBrain(sent)) as Record<string, unknown>;
        expect(answer.body).toEqual({ ...expected, request_id: requestId });
        expect(answer.body.success).toBe(
          (answer.body.decision as { outcome: string }).outcome === 'approved',
        );
      }),
      { numRuns: 200 },
    );
  });

  it('uses "default" as the project when the authorizer context has an empty one', async () => {
    await send({ authorizer: { ...DEFAULT_CALLER, projectId: '' } });

    expect(brainRequests()[0]?.project_id).toBe('default');
  });
});

describe('validation details', () => {
  it('name every bad field with a dotted path', async () => {
    const answer = await send({
      json: {
        provider: 'OpenAI',
        model: '',
        operation_type: 'chatty',
        messages: [
          { role: 'user', content: 'ok' },
          { role: 'robot', content: 1, extra: true },
        ],
        temperature: 3,
        max_tokens: 1.5,
        top_p: -0.1,
        user_id: 'mallory',
      },
    });

    expect(answer.status).toBe(400);
    expect(answer.error?.code).toBe('invalid_request');
    expect(detailPaths(answer).sort()).toEqual(
      [
        'max_tokens',
        'messages.1.content',
        'messages.1.extra',
        'messages.1.role',
        'model',
        'operation_type',
        'provider',
        'temperature',
        'top_p',
        'user_id',
      ].sort(),
    );
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it.each(['user_id', 'key_id', 'request_id', 'request_source'])(
    'refuses %s in the body as an unknown field: identity comes only from the authorizer',
    async (field) => {
      const answer = await send({ json: { ...VALID, [field]: 'mallory' } });

      expect(answer.status).toBe(400);
      expect(detailPaths(answer)).toEqual([field]);
    },
  );

  it.each(['temperature', 'max_tokens', 'top_p', 'project_id', 'agent_id', 'metadata', 'messages'])(
    'refuses null for the optional field %s',
    async (field) => {
      const answer = await send({ json: { ...VALID, [field]: null } });

      expect(answer.status).toBe(400);
      expect(detailPaths(answer)).toEqual([field]);
      expect(answer.error?.details).toEqual([
        { path: field, message: 'null is not allowed; omit the field instead' },
      ]);
    },
  );

  it('refuses a body without messages or prompt, naming messages', async () => {
    const answer = await send({ json: { provider: 'openai', model: 'gpt-4o', operation_type: 'chat' } });

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual(['messages']);
  });

  it.each([
    ['an empty messages array', { messages: [] }, 'messages'],
    [
      '257 messages',
      { messages: Array.from({ length: 257 }, () => ({ role: 'user', content: 'x' })) },
      'messages',
    ],
    ['a prompt over 100,000 chars', { prompt: 'x'.repeat(100_001) }, 'prompt'],
    ['an empty prompt', { prompt: '' }, 'prompt'],
    ['a model with a control character', { model: 'gpt-4o\u0000' }, 'model'],
    ['a model with a zero-width (format) character', { model: 'gpt\u200b4o' }, 'model'],
    ['a model over 128 chars', { model: 'm'.repeat(129) }, 'model'],
    ['a project_id over 128 chars', { project_id: 'p'.repeat(129) }, 'project_id'],
    [
      'a message with an unknown field',
      { messages: [{ role: 'user', content: 'x', name: 'n' }] },
      'messages.0.name',
    ],
  ])('refuses %s', async (_case, change, path) => {
    const answer = await send({ json: { ...VALID, ...change } });

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual([path]);
  });

  it('refuses a number that JSON.parse turns into Infinity', async () => {
    const event = proxyEvent({ body: JSON.stringify(VALID).replace('}', ',"max_tokens":1e999}') });

    const answer = parseAnswer(await handler(event, lambdaContext()));

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual(['max_tokens']);
  });

  it('accepts the limits themselves: 256 messages, a 100,000-char prompt, 128-char ids', async () => {
    const answer = await send({
      json: {
        ...VALID,
        messages: Array.from({ length: 256 }, () => ({ role: 'user', content: 'x' })),
        prompt: 'x'.repeat(100_000),
        project_id: 'p'.repeat(128),
        agent_id: 'a'.repeat(128),
        model: 'gpt-4o-mini',
      },
    });

    expect(answer.status).toBe(200);
  });
});

describe('lengths are JavaScript string lengths (UTF-16 code units)', () => {
  it.each([
    ['prompt', { prompt: '😀'.repeat(100_000) }, 'prompt'],
    ['prompt one unit over', { prompt: `${'😀'.repeat(50_000)}a` }, 'prompt'],
    ['model', { model: '😀'.repeat(65) }, 'model'],
    ['project_id', { project_id: '😀'.repeat(65) }, 'project_id'],
    ['agent_id', { agent_id: '𝔸'.repeat(100) }, 'agent_id'],
  ])('refuses a %s whose emoji make it longer than its limit', async (_case, fields, path) => {
    const answer = await send({ json: { ...VALID, ...fields } });

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual([path]);
  });

  it('accepts 50,000 emoji in a prompt: exactly 100,000 units', async () => {
    const answer = await send({ json: { ...VALID, prompt: '😀'.repeat(50_000) } });

    expect(answer.status).toBe(200);
  });
});

describe('metadata', () => {
  it.each([
    ['nested 12 levels', 12],
    ['nested 50 levels', 50],
  ])('names metadata as the field that holds nesting %s deeper than any valid body', async (_case, depth) => {
    const metadata = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const event = proxyEvent({
      body: `{"provider":"openai","model":"gpt-4o","operation_type":"chat","prompt":"hi","metadata":${metadata}}`,
    });

    const answer = parseAnswer(await handler(event, lambdaContext()));

    expect(answer.status).toBe(400);
    expect(answer.error?.code).toBe('invalid_request');
    expect(detailPaths(answer)).toEqual(['metadata']);
  });

  it('names messages when the nesting is inside a message', async () => {
    const content = `${'['.repeat(20)}${']'.repeat(20)}`;
    const event = proxyEvent({
      body: `{"provider":"openai","model":"gpt-4o","operation_type":"chat","messages":[{"role":"user","content":${content}}]}`,
    });

    const answer = parseAnswer(await handler(event, lambdaContext()));

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual(['messages']);
  });

  it.each([
    ['__proto__ at the top', '{"__proto__":{"admin":true}}', 'metadata.__proto__'],
    ['__proto__ nested', '{"a":{"b":{"__proto__":{"admin":true}}}}', 'metadata.a.b.__proto__'],
    ['constructor', '{"constructor":{"prototype":1}}', 'metadata.constructor'],
    ['prototype nested in an array', '{"list":[{"prototype":1}]}', 'metadata.list.0.prototype'],
  ])('refuses the key %s', async (_case, metadata, path) => {
    const event = proxyEvent({
      body: `{"provider":"openai","model":"gpt-4o","operation_type":"chat","prompt":"hi","metadata":${metadata}}`,
    });

    const answer = parseAnswer(await handler(event, lambdaContext()));

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual([path]);
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('refuses __proto__ at the top of the body or inside a message', async () => {
    const top = proxyEvent({
      body: `{"__proto__":{},"provider":"openai","model":"gpt-4o","operation_type":"chat","prompt":"hi"}`,
    });
    const inMessage = proxyEvent({
      body: `{"provider":"openai","model":"gpt-4o","operation_type":"chat","messages":[{"role":"user","content":"x","__proto__":{}}]}`,
    });

    const answers = [await handler(top, lambdaContext()), await handler(inMessage, lambdaContext())].map(
      (result) => parseAnswer(result),
    );

    expect(answers.map((answer) => answer.status)).toEqual([400, 400]);
    expect(answers.map(detailPaths)).toEqual([['__proto__'], ['messages.0.__proto__']]);
  });

  it('accepts 4 levels of nesting (metadata itself is the first) and refuses 5', async () => {
    const four = await send({ json: { ...VALID, metadata: { a: { b: { c: { d: 1 } } } } } });
    const fourWithArray = await send({ json: { ...VALID, metadata: { a: { b: { c: [1] } } } } });
    const five = await send({ json: { ...VALID, metadata: { a: { b: { c: { d: { e: 1 } } } } } } });
    const fiveWithArray = await send({ json: { ...VALID, metadata: { a: { b: { c: [[1]] } } } } });

    expect(four.status).toBe(200);
    expect(fourWithArray.status).toBe(200);
    expect(five.status).toBe(400);
    expect(detailPaths(five)).toEqual(['metadata.a.b.c.d']);
    expect(detailPaths(fiveWithArray)).toEqual(['metadata.a.b.c.0']);
  });

  it('accepts 8,192 bytes of UTF-8 JSON and refuses one byte more', async () => {
    // {"k":"…"} is 8 bytes around the value; "é" is 2 bytes in UTF-8.
    const fits = { k: `${'é'.repeat(4000)}${'x'.repeat(184)}` };
    const tooBig = { k: `${'é'.repeat(4000)}${'x'.repeat(185)}` };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(8192);

    const accepted = await send({ json: { ...VALID, metadata: fits } });
    const refused = await send({ json: { ...VALID, metadata: tooBig } });

    expect(accepted.status).toBe(200);
    expect(refused.status).toBe(400);
    expect(detailPaths(refused)).toEqual(['metadata']);
  });
});

describe('HTTP-level refusals', () => {
  it('answers 415 for text/plain and for a missing Content-Type', async () => {
    const plain = await send({ headers: { 'Content-Type': 'text/plain' } });
    const missing = await send({ headers: {} });

    expect(plain.status).toBe(415);
    expect(plain.error?.code).toBe('unsupported_media_type');
    expect(missing.status).toBe(415);
  });

  it('accepts application/json with a charset, in any spelling of the header', async () => {
    const answer = await send({ headers: { 'CONTENT-TYPE': 'Application/JSON; charset=UTF-8' } });

    expect(answer.status).toBe(200);
  });

  it('answers 413 over 1 MB and accepts exactly 1 MB past the size check', async () => {
    const prefix = JSON.stringify({ ...VALID, prompt: '' }).slice(0, -2);
    const exactly = `${prefix}${'x'.repeat(1024 * 1024 - prefix.length - 2)}"}`;
    expect(Buffer.byteLength(exactly)).toBe(1024 * 1024);

    const atLimit = parseAnswer(await handler(proxyEvent({ body: exactly }), lambdaContext()));
    const over = parseAnswer(await handler(proxyEvent({ body: `${exactly} ` }), lambdaContext()));

    expect(atLimit.status).toBe(400);
    expect(detailPaths(atLimit)).toEqual(['prompt']);
    expect(over.status).toBe(413);
    expect(over.error?.code).toBe('payload_too_large');
  });

  it('measures a base64-encoded body by its decoded size', async () => {
    const body = Buffer.from(JSON.stringify(VALID)).toString('base64');
    const big = Buffer.from(' '.repeat(1024 * 1024 + 1)).toString('base64');

    const small = parseAnswer(await handler(proxyEvent({ body, isBase64Encoded: true }), lambdaContext()));
    const large = parseAnswer(
      await handler(proxyEvent({ body: big, isBase64Encoded: true }), lambdaContext()),
    );

    expect(small.status).toBe(200);
    expect(large.status).toBe(413);
  });

  it.each([
    ['{bad', 'invalid_json'],
    ['', 'invalid_json'],
    ['{"a":1}{"b":2}', 'invalid_json'],
    ['null', 'invalid_request'],
    ['[]', 'invalid_request'],
    ['"text"', 'invalid_request'],
  ])('answers 400 for the body %j', async (body, code) => {
    const answer = parseAnswer(await handler(proxyEvent({ body }), lambdaContext()));

    expect(answer.status).toBe(400);
    expect(answer.error?.code).toBe(code);
  });

  it('answers 400, not a crash, for a body nested 100,000 levels deep', async () => {
    const body = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

    const answer = parseAnswer(await handler(proxyEvent({ body }), lambdaContext()));

    expect(answer.status).toBe(400);
  });

  it.each(['GET', 'PUT', 'DELETE'])('answers 405 with Allow: POST for %s', async (method) => {
    const answer = await send({ method });

    expect(answer.status).toBe(405);
    expect(answer.error?.code).toBe('method_not_allowed');
    expect(answer.headers.Allow).toBe('POST');
  });

  it('answers 401 with WWW-Authenticate without an authorizer context', async () => {
    const none = await send({ authorizer: null });
    const partial = await send({ authorizer: { principalId: 'x' } });

    for (const answer of [none, partial]) {
      expect(answer.status).toBe(401);
      expect(answer.error?.code).toBe('unauthorized');
      expect(answer.headers['WWW-Authenticate']).toBe('Bearer');
    }
  });

  it('refuses the console Test button event (headers null, no context, no body) with 401', async () => {
    const event = proxyEvent({ headers: null, authorizer: null, body: null, method: 'POST' });

    const answer = parseAnswer(await handler(event, lambdaContext()));

    expect(answer.status).toBe(401);
  });

  it('answers 400 for an Idempotency-Key over 255 characters, or empty, without touching DynamoDB', async () => {
    const long = await send({
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k'.repeat(256) },
    });
    const empty = await send({ headers: { 'Content-Type': 'application/json', 'idempotency-key': '' } });

    for (const answer of [long, empty]) {
      expect(answer.status).toBe(400);
      expect(detailPaths(answer)).toEqual(['Idempotency-Key']);
    }
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});

describe('brain failures through the handler', () => {
  const functionError = (errorType: string, errorMessage: string) =>
    invokeOutput({ errorType, errorMessage, trace: ['at secret.js:1'] }, { FunctionError: 'Unhandled' });

  it.each([
    ['a function error', 502, 'brain_error', () => functionError('Error', 'secret stack detail')],
    ['a payload that is not JSON', 502, 'brain_error', () => invokeOutput('secret <html>')],
    ['an answer outside the schema', 502, 'brain_error', () => invokeOutput({ success: 'secret' })],
    [
      'a brain-side failure',
      502,
      'brain_error',
      () => invokeOutput({ success: false, error: { code: 'secret_ledger' }, message: 'secret ledger down' }),
    ],
    [
      'a function error of type TooManyRequestsException',
      503,
      'brain_unavailable',
      () => functionError('TooManyRequestsException', 'secret throttle'),
    ],
    [
      'a brain Lambda timeout',
      504,
      'brain_timeout',
      () => functionError('Sandbox.Timedout', 'secret timed out'),
    ],
  ] as const)('%s → %i %s with a generic message', async (_case, status, code, output) => {
    lambdaMock.on(InvokeCommand).resolves(output());

    const answer = await send();

    expect(answer.status).toBe(status);
    expect(answer.error).toEqual({ code, type: 'api_error', message: DEFAULT_MESSAGES[code] });
    expect(JSON.stringify(answer.body)).not.toMatch(/secret/);
  });

  it.each([
    [
      'TooManyRequestsException from the SDK',
      503,
      new TooManyRequestsException({ message: 'secret rate', $metadata: { httpStatusCode: 429 } }),
    ],
    ['an aborted call', 504, Object.assign(new Error('secret aborted'), { name: 'AbortError' })],
    ['an unexpected SDK failure', 502, new Error('secret socket failure')],
  ])('%s → %i with a generic message', async (_case, status, thrown) => {
    lambdaMock.on(InvokeCommand).rejects(thrown);

    const answer = await send();

    expect(answer.status).toBe(status);
    expect(JSON.stringify(answer.body)).not.toMatch(/secret/);
  });

  it('maps the reference brain test models to their statuses', async () => {
    const statuses: Record<string, number> = {};
    for (const model of ['test-reject', 'test-error', 'test-malformed', 'test-throttle']) {
      statuses[model] = (await send({ json: { ...VALID, provider: 'reference', model } })).status;
    }

    expect(statuses).toEqual({
      'test-reject': 200,
      'test-error': 502,
      'test-malformed': 502,
      'test-throttle': 503,
    });
  });

  it.each([
    ['approved', true, true],
    ['approved', false, false],
    ['escalated', true, false],
    ['quarantined', true, false],
    ['rejected', true, false],
  ] as const)(
    'answers 200 for an %s decision with brain success %s as success %s',
    async (outcome, brainSuccess, success) => {
      const decision = (await referenceBrain(brainRequestFor())) as { decision: Record<string, unknown> };
      lambdaMock
        .on(InvokeCommand)
        .resolves(
          invokeOutput({ ...decision, success: brainSuccess, decision: { ...decision.decision, outcome } }),
        );

      const answer = await send();

      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ success, decision: { outcome } });
    },
  );

  it('answers 200 with success false for a rejected decision', async () => {
    const answer = await send({ json: { ...VALID, provider: 'reference', model: 'test-reject' } });

    expect(answer.body).toMatchObject({ success: false, decision: { outcome: 'rejected' }, payment: null });
  });
});

describe('infrastructure failures on the request path', () => {
  const withKey = { 'Content-Type': 'application/json', 'Idempotency-Key': 'unit-key' };

  it('answers 500 internal_error with a generic message when the idempotency table fails', async () => {
    dynamoMock.onAnyCommand().rejects(new Error('secret arn:aws:dynamodb:us-east-1:123:table/x'));

    const answer = await send({ headers: withKey });

    expect(answer.status).toBe(500);
    expect(answer.error).toEqual({
      code: 'internal_error',
      type: 'api_error',
      message: DEFAULT_MESSAGES.internal_error,
    });
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('still answers 200 when the answer cannot be stored for replay', async () => {
    dynamoMock.on(PutCommand).resolves({});
    dynamoMock.on(UpdateCommand).rejects(new Error('secret write failure'));

    const answer = await send({ headers: withKey });

    expect(answer.status).toBe(200);
  });

  it('holds the claim in doubt when the brain call fails in a way the brain may have acted on', async () => {
    dynamoMock.onAnyCommand().resolves({});
    lambdaMock.on(InvokeCommand).rejects(new Error('secret socket failure'));

    const answer = await send({ headers: withKey });

    expect(answer.status).toBe(502);
    expect(dynamoMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'PutCommand',
      'UpdateCommand',
    ]);
    const [doubt] = dynamoMock.commandCalls(UpdateCommand);
    expect(doubt?.args[0].input.ExpressionAttributeValues).toMatchObject({ ':inDoubt': 'in_doubt' });
  });

  it('releases the claim when the brain surely did not act (throttled), so the same key can be retried', async () => {
    dynamoMock.onAnyCommand().resolves({});
    lambdaMock
      .on(InvokeCommand)
      .rejects(
        new TooManyRequestsException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } }),
      );

    const answer = await send({ headers: withKey });

    expect(answer.status).toBe(503);
    expect(dynamoMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'PutCommand',
      'DeleteCommand',
    ]);
  });
});
