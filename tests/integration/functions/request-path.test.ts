/**
 * The whole request path on DynamoDB Local: a key from the key store, the authorizer
 * handler, the requests handler, and the reference brain behind a local Lambda Invoke API
 * (the real LambdaClient and wire protocol).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { referenceBrain } from '../../../functions/reference-brain/brain.js';
import { freePort } from '../../../local/dynamodb.js';
import type { BrainRequest } from '../../../shared/domain/brain/contract.js';
import { AUTH_MESSAGES } from '../../../shared/errors.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { authorizerEvent, integrationContextOf, proxyEvent } from '../../support/events.js';
import { parseAnswer } from '../../support/http.js';
import { type InvokeServer, startInvokeServer } from '../../support/invoke-server.js';
import { expectOk, keyStoreFor, scanApiKeys, uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

let tables: TestTables;
let server: InvokeServer;
let authorizer: Handler<APIGatewayRequestAuthorizerEvent | null, APIGatewayAuthorizerResult>;
let requests: Handler<APIGatewayProxyEvent, APIGatewayProxyResult>;

/** Test controls of the brain: fail the next N invocations, or hold the next one until released. */
const brainControl = {
  /** The next N invocations report a brain-side failure ({success:false}): the brain did not act. */
  failNext: 0,
  /** The next N invocations crash (a function error): the brain may have acted. */
  crashNext: 0,
  hold: undefined as { entered: () => void; released: Promise<void> } | undefined,
};

beforeAll(async () => {
  tables = await createTestTables('request-path');
  server = await startInvokeServer({
    'reference-brain': async (event) => {
      const hold = brainControl.hold;
      if (hold) {
        brainControl.hold = undefined;
        hold.entered();
        await hold.released;
      }
      if (brainControl.crashNext > 0) {
        brainControl.crashNext -= 1;
        throw new Error('simulated crash of the brain function');
      }
      if (brainControl.failNext > 0) {
        brainControl.failNext -= 1;
        return { success: false, error: { code: 'simulated' }, message: 'simulated brain failure' };
      }
      return referenceBrain(event, { stallMs: 3000 });
    },
  });
  Object.assign(process.env, {
    API_KEYS_TABLE: tables.names.apiKeys,
    KEY_ENVIRONMENT: 'test',
    USERS_TABLE: tables.names.users,
    IDEMPOTENCY_TABLE: tables.names.idempotency,
    BUDGETS_TABLE: tables.names.budgets,
    DYNAMODB_ENDPOINT: tables.endpoint,
    LAMBDA_ENDPOINT: server.endpoint,
    BRAIN_FUNCTION_NAME: 'reference-brain',
    BRAIN_TIMEOUT_MS: '1000',
    BRAIN_MAX_DURATION_MS: '1500',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  ({ handler: authorizer } = await import('../../../functions/authorizer/handler.js'));
  ({ answer: requests } = await import('../../../functions/requests/handler.js'));
});
afterAll(async () => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
  await server.close();
  await tables.drop();
});
beforeEach(() => {
  brainControl.failNext = 0;
  brainControl.crashNext = 0;
  brainControl.hold = undefined;
});

const BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 64,
  metadata: { trace: { id: 'abc', tags: ['x', 'y'] } },
};

/** What API Gateway does: run the authorizer, answer 401 on a Deny, else call the integration. */
async function call(
  apiKey: string,
  options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
) {
  const auth = await authorizer(authorizerEvent({ Authorization: `Bearer ${apiKey}` }), lambdaContext());
  if (auth.policyDocument.Statement[0]?.Effect !== 'Allow') {
    return { status: 401, message: String(auth.context?.message), answer: undefined };
  }
  const event = proxyEvent({
    headers: { 'Content-Type': 'application/json', ...options.headers },
    body: options.rawBody ?? JSON.stringify(options.body ?? BODY),
    authorizer: integrationContextOf(auth),
  });
  const result = await requests(event, lambdaContext());
  const answer = parseAnswer(result, result.statusCode === 200 ? undefined : event.requestContext.requestId);
  return { status: answer.status, message: '', answer, eventRequestId: event.requestContext.requestId };
}

async function newCaller(options: { defaultProjectId?: string } = {}) {
  const store = keyStoreFor(tables);
  const userId = uniqueUserId('path');
  expectOk(await store.service.createUser({ userId, ...options }));
  const created = expectOk(await store.service.createKey({ userId }));
  return { userId, apiKey: created.apiKey, keyId: created.key.keyId, store };
}

async function usageCount(keyId: string): Promise<number | undefined> {
  return (await scanApiKeys(tables)).find((item) => item.key_id === keyId)?.usage_count;
}

const brainCalls = () => server.count('reference-brain');
const lastBrainRequest = () => server.invocations.at(-1)?.event as BrainRequest;

describe('a request through the whole path', () => {
  it('is authorized by a stored key, transformed, answered by the brain and counted once per call', async () => {
    const { userId, apiKey, keyId } = await newCaller({ defaultProjectId: 'proj-home' });
    const before = brainCalls();

    const first = await call(apiKey);
    const second = await call(apiKey);

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.answer?.body).toMatchObject({ success: true, decision: { outcome: 'approved' } });
    expect(first.answer?.body.request_id).toBe(first.eventRequestId);
    expect(lastBrainRequest()).toMatchObject({
      user_id: userId,
      key_id: keyId,
      project_id: 'proj-home',
      agent_id: null,
      api_provider: 'openai',
      model_name: 'gpt-4o-mini',
      request_params: { messages: BODY.messages, max_tokens: 64 },
      metadata: BODY.metadata,
      request_source: 'api',
    });
    expect(brainCalls() - before).toBe(2);
    expect(await usageCount(keyId)).toBe(2);
  });

  it('refuses a revoked key on the very next request without invoking the brain', async () => {
    const { userId, apiKey, keyId, store } = await newCaller();
    expect((await call(apiKey)).status).toBe(200);
    expectOk(await store.service.revokeKey({ userId, keyId }));
    const before = brainCalls();

    const refused = await call(apiKey);

    expect(refused).toMatchObject({ status: 401, message: AUTH_MESSAGES.revoked });
    expect(brainCalls()).toBe(before);
  });

  it.each([
    ['test-reject', 200],
    ['test-error', 502],
    ['test-malformed', 502],
    ['test-throttle', 503],
    ['test-timeout', 504],
  ])('maps the reference brain model %s to HTTP %i over the Invoke wire protocol', async (model, status) => {
    const { apiKey } = await newCaller();

    const result = await call(apiKey, { body: { ...BODY, provider: 'reference', model } });

    expect(result.status).toBe(status);
    if (status === 200)
      expect(result.answer?.body).toMatchObject({ success: false, decision: { outcome: 'rejected' } });
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same key and body, keys reordered, without invoking the brain again', async () => {
    const { apiKey, keyId } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-1' };
    const before = brainCalls();

    const first = await call(apiKey, { body: BODY, headers });
    const reordered = Object.fromEntries(Object.entries(BODY).reverse());
    const repeat = await call(apiKey, {
      body: { ...reordered, metadata: { trace: { tags: ['x', 'y'], id: 'abc' } } },
      headers,
    });

    expect([first.status, repeat.status]).toEqual([200, 200]);
    expect(brainCalls() - before).toBe(1);
    expect(repeat.answer?.body).toEqual(first.answer?.body);
    expect(repeat.answer?.headers['X-Request-Id']).toBe(first.answer?.body.request_id);
    expect(repeat.answer?.headers['Idempotent-Replayed']).toBe('true');
    expect(await usageCount(keyId)).toBe(2);
  });

  it('answers 409 for the same key with another body', async () => {
    const { apiKey } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-2' };
    await call(apiKey, { headers });
    const before = brainCalls();

    const conflict = await call(apiKey, { body: { ...BODY, max_tokens: 65 }, headers });

    expect(conflict.status).toBe(409);
    expect(conflict.answer?.error?.code).toBe('idempotency_conflict');
    expect(brainCalls()).toBe(before);
  });

  it('answers 409 for a repeat while the first request is still running', async () => {
    const { apiKey } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-3' };
    let release = () => {};
    const entered = new Promise<void>((resolve) => {
      brainControl.hold = { entered: resolve, released: new Promise<void>((done) => (release = done)) };
    });

    const firstCall = call(apiKey, { headers });
    await entered;
    const whileRunning = await call(apiKey, { headers });
    release();
    const first = await firstCall;
    const afterwards = await call(apiKey, { headers });

    expect(whileRunning.status).toBe(409);
    expect(first.status).toBe(200);
    expect(afterwards.status).toBe(200);
    expect(afterwards.answer?.body.request_id).toBe(first.answer?.body.request_id);
  });

  it('lets a request whose first attempt failed on the brain side (it did not act) be retried at once', async () => {
    const { apiKey } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-4' };
    brainControl.failNext = 1;
    const before = brainCalls();

    const failed = await call(apiKey, { headers });
    const retried = await call(apiKey, { headers });
    const replayed = await call(apiKey, { headers });

    expect([failed.status, retried.status, replayed.status]).toEqual([502, 200, 200]);
    expect(failed.answer?.error?.message).not.toContain('simulated');
    expect(brainCalls() - before).toBe(2);
    expect(replayed.answer?.body.request_id).toBe(retried.answer?.body.request_id);
  });

  it('holds a key whose brain call crashed (it may have acted) until the brain has surely stopped, then retries the same request id', async () => {
    const { apiKey } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-crash' };
    brainControl.crashNext = 1;
    const before = brainCalls();

    const crashed = await call(apiKey, { headers });
    const early = await call(apiKey, { headers });
    const wait = Number(early.answer?.headers['Retry-After']);
    await sleep(wait * 1000);
    const retried = await call(apiKey, { headers });

    expect([crashed.status, early.status, retried.status]).toEqual([502, 409, 200]);
    expect(early.answer?.error?.code).toBe('idempotency_conflict');
    // The brain's 1.5 s time limit + the 2 s margin, in whole seconds.
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(4);
    expect(brainCalls() - before).toBe(2);
    const [first, second] = server.invocations
      .slice(-2)
      .map((invocation) => (invocation.event as { request_id: string }).request_id);
    expect(second).toBe(first);
    expect(retried.answer?.body.request_id).toBe(first);
  });

  it('does not store a 4xx answer: the same key then works with a valid body', async () => {
    const { apiKey } = await newCaller();
    const headers = { 'Idempotency-Key': 'order-5' };

    const invalid = await call(apiKey, { body: { ...BODY, temperature: 9 }, headers });
    const valid = await call(apiKey, { headers });

    expect([invalid.status, valid.status]).toEqual([400, 200]);
  });

  it('accepts a key of 255 characters and refuses 256 with 400', async () => {
    const { apiKey } = await newCaller();

    const longest = await call(apiKey, { headers: { 'Idempotency-Key': 'k'.repeat(255) } });
    const tooLong = await call(apiKey, { headers: { 'Idempotency-Key': 'k'.repeat(256) } });

    expect(longest.status).toBe(200);
    expect(tooLong.status).toBe(400);
    expect(tooLong.answer?.error?.details).toEqual([
      { path: 'Idempotency-Key', message: expect.any(String) },
    ]);
  });

  it('keeps the same key of two different users apart', async () => {
    const alice = await newCaller();
    const bob = await newCaller();
    const headers = { 'Idempotency-Key': 'shared-key' };
    const before = brainCalls();

    const forAlice = await call(alice.apiKey, { headers });
    const forBob = await call(bob.apiKey, { headers, body: { ...BODY, max_tokens: 99 } });

    expect([forAlice.status, forBob.status]).toEqual([200, 200]);
    expect(forBob.answer?.body.request_id).not.toBe(forAlice.answer?.body.request_id);
    expect(brainCalls() - before).toBe(2);
  });
});

describe('when the brain is unreachable', () => {
  it('answers 502 in the envelope, quickly', async () => {
    const { apiKey } = await newCaller();
    process.env.LAMBDA_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    vi.resetModules();
    const { answer: down } = await import('../../../functions/requests/handler.js');
    process.env.LAMBDA_ENDPOINT = server.endpoint;
    const auth = await authorizer(authorizerEvent({ 'X-API-Key': apiKey }), lambdaContext());
    const event = proxyEvent({ body: JSON.stringify(BODY), authorizer: integrationContextOf(auth) });
    const started = Date.now();

    const answer = parseAnswer(await down(event, lambdaContext()), event.requestContext.requestId);

    expect(answer.status).toBe(502);
    expect(answer.error?.code).toBe('brain_error');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
