import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAuthorizer, decisionCounter } from '../../../functions/authorizer/authorize.js';
import { freePort } from '../../../local/dynamodb.js';
import { createMetrics } from '../../../shared/adapters/observability/metrics.js';
import { generateKey, hashKey } from '../../../shared/domain/keys/format.js';
import { AUTH_MESSAGES } from '../../../shared/errors.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { authorizerEvent, METHOD_ARN } from '../../support/events.js';
import {
  createKeyServiceFor,
  expectOk,
  keyStoreFor,
  scanApiKeys,
  testClock,
  uniqueUserId,
} from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { recordingLogger, silentLogger } from '../../support/logs.js';
import { type CountingClient, countingDocumentClient } from '../../support/sdk.js';

type Authorize = ReturnType<typeof createAuthorizer>;

let tables: TestTables;
let counting: CountingClient;
let authorize: Authorize;
const keys = { valid: '', other: '', revoked: '', expired: '', suspended: '', unknown: '' };
let validKeyId = '';
let userId = '';

beforeAll(async () => {
  tables = await createTestTables('authorizer');
  counting = countingDocumentClient(tables.endpoint);
  authorize = createAuthorizer({
    keys: createKeyServiceFor(counting.doc, tables.names, silentLogger),
    logger: silentLogger,
    countDecision: decisionCounter(createMetrics('authorizer-test')),
  });

  const store = keyStoreFor(tables);
  userId = uniqueUserId('auth');
  expectOk(await store.service.createUser({ userId, defaultProjectId: 'proj-auth' }));
  const valid = expectOk(await store.service.createKey({ userId }));
  keys.valid = valid.apiKey;
  validKeyId = valid.key.keyId;
  keys.other = expectOk(await store.service.createKey({ userId })).apiKey;
  const revoked = expectOk(await store.service.createKey({ userId }));
  expectOk(await store.service.revokeKey({ userId, keyId: revoked.key.keyId }));
  keys.revoked = revoked.apiKey;
  // Issued by a clock in the past, so it has expired by now.
  const past = keyStoreFor(tables, { clock: testClock('2020-01-01T00:00:00Z') });
  keys.expired = expectOk(await past.service.createKey({ userId, expiresAt: '2020-01-02T00:00:00Z' })).apiKey;
  const suspendedUser = uniqueUserId('auth-suspended');
  expectOk(await store.service.createUser({ userId: suspendedUser }));
  keys.suspended = expectOk(await store.service.createKey({ userId: suspendedUser })).apiKey;
  expectOk(await store.service.setUserStatus({ userId: suspendedUser, suspended: true }));
  keys.unknown = generateKey('test').key;
});
afterAll(async () => {
  counting.doc.destroy();
  await tables.drop();
});

function effectOf(result: APIGatewayAuthorizerResult): string | undefined {
  return result.policyDocument.Statement[0]?.Effect;
}

/** One authorizer call and the DynamoDB commands it sent. */
async function authorizeCounting(event: APIGatewayRequestAuthorizerEvent) {
  counting.reset();
  const result = await authorize(event);
  return { result, calls: [...counting.calls] };
}

const changedOneChar = () =>
  `${keys.valid.slice(0, 10)}${keys.valid[10] === 'A' ? 'B' : 'A'}${keys.valid.slice(11)}`;

describe('the authorizer allows a valid key however it is sent, with exactly one DynamoDB call', () => {
  it.each([
    ['Authorization: Bearer', () => ({ Authorization: `Bearer ${keys.valid}` })],
    ['lower-case bearer', () => ({ authorization: `bearer ${keys.valid}` })],
    ['X-API-Key', () => ({ 'X-API-Key': keys.valid })],
    ['x-api-key', () => ({ 'x-api-key': keys.valid })],
    [
      'both headers with the same key',
      () => ({ Authorization: `Bearer ${keys.valid}`, 'X-API-Key': keys.valid }),
    ],
    ['extra spaces', () => ({ Authorization: `   Bearer    ${keys.valid}   ` })],
  ])('%s', async (_case, headers) => {
    const { result, calls } = await authorizeCounting(authorizerEvent(headers()));

    expect(effectOf(result)).toBe('Allow');
    expect(calls).toEqual(['UpdateItemCommand']);
    expect(result.principalId).toBe(userId);
    expect(result.context).toEqual({
      userId,
      keyId: validKeyId,
      projectId: 'proj-auth',
      projectBound: 'false',
      scopes: '',
      limits: '',
      limited: '',
      retryAfter: '',
      budget: '',
    });
  });
});

describe('the authorizer denies, with the caller-facing message', () => {
  it.each([
    { name: 'neither header', headers: () => ({ Accept: '*/*' }), reason: 'missing', dynamoCalls: 0 },
    {
      name: 'headers: null as the console Test button sends',
      headers: () => null,
      reason: 'missing',
      dynamoCalls: 0,
    },
    {
      name: 'two different keys',
      headers: () => ({ Authorization: `Bearer ${keys.valid}`, 'X-API-Key': keys.other }),
      reason: 'conflicting',
      dynamoCalls: 0,
    },
    {
      name: 'another scheme',
      headers: () => ({ Authorization: `Basic ${keys.valid}` }),
      reason: 'malformed',
      dynamoCalls: 0,
    },
    {
      name: 'a bare key in Authorization',
      headers: () => ({ Authorization: keys.valid }),
      reason: 'malformed',
      dynamoCalls: 0,
    },
    {
      name: 'garbage',
      headers: () => ({ Authorization: 'Bearer garbage' }),
      reason: 'malformed',
      dynamoCalls: 0,
    },
    {
      name: 'an X-API-Key of garbage',
      headers: () => ({ 'X-API-Key': 'sk-0000' }),
      reason: 'malformed',
      dynamoCalls: 0,
    },
    {
      name: 'a key with one character changed',
      headers: () => ({ 'X-API-Key': changedOneChar() }),
      reason: 'malformed',
      dynamoCalls: 0,
    },
    {
      name: 'a well-formed key of the other environment (live, on a test stage)',
      headers: () => ({ 'X-API-Key': generateKey('live').key }),
      reason: 'other_environment',
      dynamoCalls: 0,
    },
    {
      name: 'a well-formed key never issued',
      headers: () => ({ 'X-API-Key': keys.unknown }),
      reason: 'unknown',
      dynamoCalls: 1,
    },
    {
      name: 'a revoked key',
      headers: () => ({ Authorization: `Bearer ${keys.revoked}` }),
      reason: 'revoked',
      dynamoCalls: 1,
    },
    {
      name: 'an expired key',
      headers: () => ({ Authorization: `Bearer ${keys.expired}` }),
      reason: 'expired',
      dynamoCalls: 1,
    },
    {
      name: 'a key of a suspended user',
      headers: () => ({ 'X-API-Key': keys.suspended }),
      reason: 'suspended',
      dynamoCalls: 1,
    },
  ] as const)('$name → $reason', async ({ headers, reason, dynamoCalls }) => {
    const { result, calls } = await authorizeCounting(authorizerEvent(headers()));

    expect(effectOf(result)).toBe('Deny');
    expect(result.context).toEqual({
      reason,
      message: AUTH_MESSAGES[reason],
      body: expect.any(String),
      shouldRetry: 'false',
    });
    expect(JSON.parse(String(result.context?.body))).toMatchObject({
      success: false,
      error: { code: 'unauthorized', message: AUTH_MESSAGES[reason] },
    });
    expect(calls).toHaveLength(dynamoCalls);
    expect(result.policyDocument.Statement[0]).toMatchObject({ Resource: METHOD_ARN });
  });

  it('uses the SPEC messages for revoked, expired and invalid keys', () => {
    expect(AUTH_MESSAGES.revoked).toMatch(/^API key has been revoked/);
    expect(AUTH_MESSAGES.expired).toMatch(/^API key has expired/);
    expect(AUTH_MESSAGES.malformed).toBe('Invalid API key.');
    expect(AUTH_MESSAGES.unknown).toBe('Invalid API key.');
  });

  it('denies a null event without throwing', async () => {
    const result = await authorize(null);

    expect(effectOf(result)).toBe('Deny');
    expect(result.context?.reason).toBe('missing');
  });
});

describe('the Allow', () => {
  it('carries only string context values and grants the whole stage', async () => {
    const result = await authorize(authorizerEvent({ 'X-API-Key': keys.valid }));

    expect(Object.values(result.context ?? {}).every((value) => typeof value === 'string')).toBe(true);
    expect(result.policyDocument.Statement).toEqual([
      {
        Action: 'execute-api:Invoke',
        Effect: 'Allow',
        Resource: 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*/*',
      },
    ]);
  });

  it('counts each allowed call once and stops allowing on the next call after revocation', async () => {
    const store = keyStoreFor(tables);
    const created = expectOk(await store.service.createKey({ userId }));
    const event = () => authorizerEvent({ Authorization: `Bearer ${created.apiKey}` });

    const first = await authorize(event());
    const second = await authorize(event());
    expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));
    const afterRevocation = await authorize(event());

    expect([first, second, afterRevocation].map(effectOf)).toEqual(['Allow', 'Allow', 'Deny']);
    expect(afterRevocation.context?.message).toBe(AUTH_MESSAGES.revoked);
    const item = (await scanApiKeys(tables)).find((entry) => entry.key_id === created.key.keyId);
    expect(item?.usage_count).toBe(2);
  });
});

describe('a key over its limits', () => {
  it('is admitted with the refusal in the context (a Deny could only be a 401), counted nowhere', async () => {
    const store = keyStoreFor(tables);
    const created = expectOk(await store.service.createKey({ userId }));
    await tables.doc.send(
      new UpdateCommand({
        TableName: tables.names.apiKeys,
        Key: { key_hash: hashKey(created.apiKey) },
        UpdateExpression: 'SET rate_limit = :one, rate_window = :hour',
        ExpressionAttributeValues: { ':one': 1, ':hour': 3600 },
      }),
    );
    const event = () => authorizerEvent({ Authorization: `Bearer ${created.apiKey}` });

    const first = await authorize(event());
    const over = await authorize(event());

    expect([first, over].map(effectOf)).toEqual(['Allow', 'Allow']);
    expect(first.context).toMatchObject({ limited: '', retryAfter: '' });
    expect(JSON.parse(String(first.context?.limits))).toMatchObject({ rate: { limit: 1, remaining: 0 } });
    expect(over.context).toMatchObject({ userId, keyId: created.key.keyId, limited: 'rate_limited' });
    expect(Number(over.context?.retryAfter)).toBeGreaterThan(0);
    expect(Number(over.context?.retryAfter)).toBeLessThanOrEqual(3600);
    const item = (await scanApiKeys(tables)).find((entry) => entry.key_id === created.key.keyId);
    expect(item).toMatchObject({ usage_count: 1, rate_count: 1 });
  });
});

describe('a flood of one refused key', () => {
  it('costs one DynamoDB call, then none while the container remembers the refusal', async () => {
    const store = keyStoreFor(tables);
    const created = expectOk(await store.service.createKey({ userId }));
    expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));
    const fresh = createAuthorizer({
      keys: createKeyServiceFor(counting.doc, tables.names, silentLogger),
      logger: silentLogger,
      countDecision: decisionCounter(createMetrics('authorizer-test')),
    });
    const event = authorizerEvent({ 'X-API-Key': created.apiKey });

    counting.reset();
    const results = [];
    for (let index = 0; index < 200; index += 1) results.push(await fresh(event));

    expect(results.every((result) => effectOf(result) === 'Deny')).toBe(true);
    expect(results.every((result) => result.context?.message === AUTH_MESSAGES.revoked)).toBe(true);
    expect(counting.calls).toEqual(['UpdateItemCommand']);
  });
});

describe('what ops can find in the refusal lines (docs/operations.md)', () => {
  it("logs each refusal with the API request id, the key's start, and whose key it is when known", async () => {
    const recorded = recordingLogger();
    const logged = createAuthorizer({
      keys: createKeyServiceFor(counting.doc, tables.names, silentLogger),
      logger: recorded.logger,
      countDecision: decisionCounter(createMetrics('authorizer-test')),
    });
    const cases = [
      ['revoked', keys.revoked, true],
      ['expired', keys.expired, true],
      ['suspended', keys.suspended, true],
      ['unknown', keys.unknown, false],
    ] as const;
    for (const [reason, key, owned] of cases) {
      const event = authorizerEvent({ Authorization: `Bearer ${key}` });
      // Twice: the second refusal comes from the container's memory, and says the same.
      for (const attempt of [1, 2]) {
        recorded.records.length = 0;
        await logged(event);
        const line = recorded.records.find((record) => record.message === 'request refused');
        expect(line?.attributes, `${reason} #${attempt}`).toMatchObject({
          reason,
          request_id: event.requestContext.requestId,
          key_start: key.slice(0, 12),
        });
        if (owned) {
          expect(line?.attributes.key_id, reason).toMatch(/^key_/);
          expect(line?.attributes.user_id, reason).toEqual(expect.any(String));
        } else {
          expect(line?.attributes).not.toHaveProperty('key_id');
        }
      }
    }
    const revokedLine = recorded.text();
    expect(revokedLine).not.toContain(keys.unknown);
    // A malformed key: the request id, and nothing derived from the key.
    recorded.records.length = 0;
    const malformed = authorizerEvent({ Authorization: 'Bearer sk-not-ours' });
    await logged(malformed);
    expect(recorded.records[0]?.attributes).toEqual({
      reason: 'malformed',
      request_id: malformed.requestContext.requestId,
    });
  });
});

describe('the deployed handler module', () => {
  let handler: (
    event: APIGatewayRequestAuthorizerEvent | null,
    context: Context,
  ) => Promise<APIGatewayAuthorizerResult>;

  beforeAll(async () => {
    process.env.API_KEYS_TABLE = tables.names.apiKeys;
    process.env.KEY_ENVIRONMENT = 'test';
    process.env.USERS_TABLE = tables.names.users;
    process.env.DYNAMODB_ENDPOINT = tables.endpoint;
    vi.resetModules();
    ({ handler } = await import('../../../functions/authorizer/handler.js'));
  });

  it('allows a valid key', async () => {
    const result = await handler(authorizerEvent({ Authorization: `Bearer ${keys.valid}` }), lambdaContext());

    expect(effectOf(result)).toBe('Allow');
    expect(result.context).toEqual({
      userId,
      keyId: validKeyId,
      projectId: 'proj-auth',
      projectBound: 'false',
      scopes: '',
      limits: '',
      limited: '',
      retryAfter: '',
      budget: '',
    });
  });

  it('denies the console Test button event (headers: null) without crashing', async () => {
    const result = await handler(authorizerEvent(null), lambdaContext());

    expect(effectOf(result)).toBe('Deny');
    expect(result.context?.message).toBe(AUTH_MESSAGES.missing);
  });
});

/** The wired authorizer on a DynamoDB endpoint nothing listens on, its SDK calls recorded. */
async function unreachableAuthorizer() {
  const closed = countingDocumentClient(`http://127.0.0.1:${await freePort()}`, {
    connectionTimeoutMs: 300,
    requestTimeoutMs: 500,
    maxAttempts: 1,
  });
  const down = createAuthorizer({
    keys: createKeyServiceFor(closed.doc, tables.names, silentLogger),
    logger: silentLogger,
    countDecision: decisionCounter(createMetrics('authorizer-test')),
  });
  return { closed, down };
}

/** The deployed handler module on a DynamoDB endpoint that accepts connections and never answers. */
async function handlerOnSilentDynamo() {
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  process.env.DYNAMODB_ENDPOINT = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  vi.resetModules();
  const { handler } = await import('../../../functions/authorizer/handler.js');
  return { handler, silent };
}

describe('when DynamoDB is unreachable', () => {
  it('the wired authorizer denies with the unavailable message instead of throwing or allowing', async () => {
    const { closed, down } = await unreachableAuthorizer();

    const result = await down(authorizerEvent({ Authorization: `Bearer ${keys.valid}` }));
    closed.doc.destroy();

    expect(effectOf(result)).toBe('Deny');
    expect(result.context).toEqual({
      reason: 'unavailable',
      message: AUTH_MESSAGES.unavailable,
      body: expect.any(String),
      shouldRetry: 'true',
    });
    expect(closed.calls).toEqual(['UpdateItemCommand']);
  });

  it('the deployed handler module denies, without hanging, when DynamoDB accepts but never answers', async () => {
    const { handler, silent } = await handlerOnSilentDynamo();
    const started = Date.now();

    const result = await handler(authorizerEvent({ 'X-API-Key': keys.valid }), lambdaContext());
    silent.closeAllConnections();
    silent.close();

    expect(effectOf(result)).toBe('Deny');
    expect(result.context?.message).toBe(AUTH_MESSAGES.unavailable);
    // Two attempts of at most 1.5 s each, well inside the authorizer's own timeout.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('the deployed handler module denies quickly with the unavailable message', async () => {
    process.env.DYNAMODB_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    vi.resetModules();
    const { handler } = await import('../../../functions/authorizer/handler.js');
    const started = Date.now();

    const result = await handler(authorizerEvent({ 'X-API-Key': keys.valid }), lambdaContext());

    expect(effectOf(result)).toBe('Deny');
    expect(result.context?.message).toBe(AUTH_MESSAGES.unavailable);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('POST /v1/messages/count_tokens: verified, never counted (SPEC §3d)', () => {
  const onRoute = (headers: Record<string, string>, resource: string) => ({
    ...authorizerEvent(headers),
    resource,
    path: resource,
  });

  it('allows a valid key with one strongly consistent read and no write, carrying no limit numbers', async () => {
    const store = keyStoreFor(tables);
    const created = expectOk(
      await store.service.createKey({ userId, rateLimit: { limit: 1, windowSeconds: 3600 } }),
    );
    const event = () => onRoute({ 'x-api-key': created.apiKey }, '/v1/messages/count_tokens');
    // Its one call spent its rate limit; counting tokens is still allowed, and counts nothing.
    expect(effectOf(await authorize(onRoute({ 'x-api-key': created.apiKey }, '/v1/messages')))).toBe('Allow');
    const outcomes = [];
    for (let call = 0; call < 3; call += 1) outcomes.push(await authorizeCounting(event()));

    for (const { result, calls } of outcomes) {
      expect(effectOf(result)).toBe('Allow');
      expect(calls).toEqual(['GetItemCommand']);
      expect(result.context).toMatchObject({ keyId: created.key.keyId, limits: '', limited: '' });
    }
    const item = (await scanApiKeys(tables)).find((entry) => entry.key_id === created.key.keyId);
    expect(item?.usage_count).toBe(1);
  });

  it('fails closed when its read cannot be made: unavailable, retryable, in Anthropic’s shape, nothing written', async () => {
    const { closed, down } = await unreachableAuthorizer();

    const result = await down(onRoute({ 'x-api-key': keys.valid }, '/v1/messages/count_tokens'));
    closed.doc.destroy();

    expect(effectOf(result)).toBe('Deny');
    expect(result.context).toMatchObject({ reason: 'unavailable', shouldRetry: 'true' });
    expect(JSON.parse(String(result.context?.body))).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', message: AUTH_MESSAGES.unavailable },
    });
    expect(closed.calls).toEqual(['GetItemCommand']);
  });

  it('the deployed handler module refuses in time when its read is never answered', async () => {
    const { handler, silent } = await handlerOnSilentDynamo();
    const started = Date.now();

    const result = await handler(
      onRoute({ 'x-api-key': keys.valid }, '/v1/messages/count_tokens'),
      lambdaContext(),
    );
    silent.closeAllConnections();
    silent.close();

    expect(effectOf(result)).toBe('Deny');
    expect(result.context?.reason).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a revoked, expired or unknown key as every route does, the 401 in Anthropic’s shape', async () => {
    for (const [key, reason] of [
      [keys.revoked, 'revoked'],
      [keys.expired, 'expired'],
      [keys.unknown, 'unknown'],
      [keys.suspended, 'suspended'],
    ] as const) {
      const { result } = await authorizeCounting(onRoute({ 'x-api-key': key }, '/v1/messages/count_tokens'));
      expect(effectOf(result)).toBe('Deny');
      expect(result.context?.reason).toBe(reason);
      expect(JSON.parse(String(result.context?.body))).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: AUTH_MESSAGES[reason] },
        request_id: expect.any(String),
      });
    }
  });
});
