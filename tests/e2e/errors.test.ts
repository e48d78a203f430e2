/**
 * Every error of SPEC §3 over real HTTPS, each in the one envelope with the security headers,
 * whether the requests function, the emulated API Gateway or the brain caused it.
 * 500 is not here: no honest call makes the real stack fail unexpectedly (the emulation's
 * AUTHORIZER_FAILURE path is covered with a failing authorizer in gateway-emulation.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { generateKey } from '../../shared/domain/keys/format.js';
import {
  CHAT_BODY,
  callApi,
  expectEnvelope,
  expectSecurityHeaders,
  jsonHeaders,
  modelBody,
} from './support/https.js';
import { startTestStack } from './support/stack.js';

const BRAIN_TIMEOUT_MS = 1500;
const body = JSON.stringify(CHAT_BODY);

let stack: LocalStack;
let apiKey: string;

beforeAll(async () => {
  stack = await startTestStack({ seedDemo: true, brainTimeoutMs: BRAIN_TIMEOUT_MS });
  apiKey = stack.demo?.apiKey ?? '';
});

afterAll(async () => {
  await stack?.stop();
});

describe('success', () => {
  it('answers 200 with the decision and the security headers', async () => {
    const answer = await callApi(stack, { headers: jsonHeaders(apiKey), body });

    expect(answer.status).toBe(200);
    expectSecurityHeaders(answer);
    expect(answer.json).toMatchObject({ success: true, payment: { simulated: true } });
  });

  it('answers 200 with success false for a decision the brain rejects', async () => {
    const answer = await callApi(stack, {
      headers: jsonHeaders(apiKey),
      body: modelBody('reference', 'test-reject'),
    });

    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ success: false, decision: { outcome: 'rejected' } });
  });
});

describe('400', () => {
  it('invalid_json for a body that is not JSON', async () => {
    const answer = await callApi(stack, { headers: jsonHeaders(apiKey), body: '{"provider": "openai",' });

    expectEnvelope(answer, 400, 'invalid_json');
  });

  it('invalid_request naming every bad field in details', async () => {
    const bad = {
      ...CHAT_BODY,
      operation_type: 'dance',
      temprature: 0.5,
      messages: [{ role: 'robot', content: 'hi' }],
    };

    const answer = await callApi(stack, { headers: jsonHeaders(apiKey), body: JSON.stringify(bad) });

    const envelope = expectEnvelope(answer, 400, 'invalid_request');
    expect(envelope.error.details?.map((detail) => detail.path)).toEqual(
      expect.arrayContaining(['operation_type', 'temprature', 'messages.0.role']),
    );
  });

  it('invalid_request for an Idempotency-Key over 255 characters', async () => {
    const answer = await callApi(stack, {
      headers: jsonHeaders(apiKey, { 'Idempotency-Key': 'k'.repeat(256) }),
      body,
    });

    expect(expectEnvelope(answer, 400, 'invalid_request').error.details?.[0]?.path).toBe('Idempotency-Key');
  });
});

describe('401', () => {
  const refusals: Array<[string, Record<string, string>, string]> = [
    ['no key', {}, 'Missing API key'],
    ['a malformed key', { Authorization: 'Bearer sk-not-a-key' }, 'Invalid API key.'],
    ['another auth scheme', { Authorization: 'Basic dXNlcjpwYXNz' }, 'Invalid API key.'],
    ['a well-formed key that was never issued', { 'X-API-Key': generateKey('test').key }, 'Invalid API key.'],
    // The local stack is a test environment: a production key is refused, saying why.
    ['a live key on a test stack', { 'X-API-Key': generateKey('live').key }, 'kg_live_ keys'],
  ];

  it.each(refusals)('unauthorized with WWW-Authenticate for %s', async (_label, headers, message) => {
    const answer = await callApi(stack, {
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });

    const envelope = expectEnvelope(answer, 401, 'unauthorized');
    expect(envelope.error.message).toContain(message);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });
});

describe('404 and 405', () => {
  it.each(['/', '/api/v1/other', '/api/v1/requests/extra'])(
    'not_found for %s, before any authentication',
    async (path) => {
      const answer = await callApi(stack, { path, headers: jsonHeaders(), body });

      expectEnvelope(answer, 404, 'not_found');
      expect(answer.headers['www-authenticate']).toBeUndefined();
    },
  );

  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('method_not_allowed for %s with a valid key', async (method) => {
    const answer = await callApi(stack, { method, headers: jsonHeaders(apiKey) });

    expectEnvelope(answer, 405, 'method_not_allowed');
    expect(answer.headers.allow).toBe('POST');
  });

  it('authenticates first: GET without a key is 401, not 405', async () => {
    const answer = await callApi(stack, { method: 'GET', headers: {} });

    expectEnvelope(answer, 401, 'unauthorized');
  });
});

describe('409 idempotency', () => {
  it('replays the first answer with its request_id, and refuses the key with another body', async () => {
    const idempotencyKey = `e2e-${randomUUID()}`;
    const headers = jsonHeaders(apiKey, { 'Idempotency-Key': idempotencyKey });

    const first = await callApi(stack, { headers, body });
    const replay = await callApi(stack, { headers, body });
    const conflict = await callApi(stack, { headers, body: modelBody('openai', 'gpt-4o') });

    expect(first.status).toBe(200);
    expect(replay.status).toBe(200);
    expect(replay.headers['x-request-id']).toBe(first.headers['x-request-id']);
    expect((replay.json as { request_id: string }).request_id).toBe(
      (first.json as { request_id: string }).request_id,
    );
    expectEnvelope(conflict, 409, 'idempotency_conflict');
  });

  it('refuses a repeat while the first call is still running', async () => {
    const headers = jsonHeaders(apiKey, { 'Idempotency-Key': `e2e-${randomUUID()}` });
    const slow = modelBody('reference', 'test-timeout');

    const first = callApi(stack, { headers, body: slow });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const repeat = await callApi(stack, { headers, body: slow });

    expectEnvelope(repeat, 409, 'idempotency_conflict');
    expectEnvelope(await first, 504, 'brain_timeout');
  });
});

describe('413 and 415', () => {
  it('payload_too_large from the function for a body over 1 MB', async () => {
    const big = JSON.stringify({ ...CHAT_BODY, messages: undefined, prompt: 'x'.repeat(1024 * 1024 + 10) });

    const answer = await callApi(stack, { headers: jsonHeaders(apiKey), body: big });

    expectEnvelope(answer, 413, 'payload_too_large');
  });

  it('payload_too_large from the gateway for a body over 10 MB, before the authorizer', async () => {
    const huge = Buffer.alloc(10 * 1024 * 1024 + 1, 'x');

    const answer = await callApi(stack, { headers: { 'Content-Type': 'application/json' }, body: huge });

    expectEnvelope(answer, 413, 'payload_too_large');
  });

  it('unsupported_media_type for a body that is not declared JSON', async () => {
    const answer = await callApi(stack, {
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'text/plain' },
      body,
    });

    expectEnvelope(answer, 415, 'unsupported_media_type');
  });

  it('accepts application/json with a charset', async () => {
    const answer = await callApi(stack, {
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json; charset=utf-8' },
      body,
    });

    expect(answer.status).toBe(200);
  });
});

describe('brain failures', () => {
  it.each([
    ['test-error', 502, 'brain_error'],
    ['test-malformed', 502, 'brain_error'],
    ['test-throttle', 503, 'brain_unavailable'],
    ['test-timeout', 504, 'brain_timeout'],
  ])('model %s answers %i %s', async (model, status, code) => {
    const started = Date.now();

    const answer = await callApi(stack, {
      headers: jsonHeaders(apiKey),
      body: modelBody('reference', model),
    });

    const envelope = expectEnvelope(answer, status, code);
    expect(envelope.error.message).not.toMatch(/simulated|stack|Error:/i);
    if (model === 'test-timeout') expect(Date.now() - started).toBeGreaterThanOrEqual(BRAIN_TIMEOUT_MS - 50);
  });
});

describe('429', () => {
  let throttled: LocalStack;

  beforeAll(async () => {
    throttled = await startTestStack({ throttle: { rateLimit: 1, burstLimit: 2 } });
  });

  afterAll(async () => {
    await throttled?.stop();
  });

  it('rate_limited beyond the stage burst, before the authorizer', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => callApi(throttled, { headers: jsonHeaders(), body })),
    );

    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([401, 401, 429, 429, 429]);
    for (const answer of answers.filter((candidate) => candidate.status === 429)) {
      expectEnvelope(answer, 429, 'rate_limited');
      // SPEC §8: the bucket refills within a second (the THROTTLED gateway response on AWS too).
      expect(answer.headers['retry-after']).toBe('1');
    }
  });
});

describe('HTTPS only', () => {
  it('gives plain HTTP on the API port no HTTP answer', async () => {
    const port = Number(new URL(stack.apiUrl).port);

    const received = await new Promise<string>((resolve) => {
      let data = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('GET /api/v1/requests HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      socket.setTimeout(3000, () => socket.destroy());
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString('latin1');
      });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });

    expect(received).not.toMatch(/^HTTP\//);
  });
});
