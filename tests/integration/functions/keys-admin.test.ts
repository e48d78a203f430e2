import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../../shared/domain/keys/format.js';
import type { KeyMetadata, UserView } from '../../../shared/domain/keys/metadata.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { type KeysAdminHandler, loadKeysAdminHandler } from '../../support/keys-admin-handler.js';
import { keyStoreFor, scanApiKeys, uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { captureOutput } from '../../support/logs.js';

interface Answer {
  ok: boolean;
  error?: { code: string; message: string };
  [field: string]: unknown;
}

const METADATA_FIELDS = [
  'budget',
  'createdAt',
  'expiresAt',
  'keyId',
  'lastUsedAt',
  'name',
  'projectBound',
  'projectId',
  'quota',
  'rateLimit',
  'revokedAt',
  'revokedReason',
  'scopes',
  'shards',
  'start',
  'status',
  'usageCount',
  'userId',
];

let tables: TestTables;
let handler: KeysAdminHandler;

beforeAll(async () => {
  tables = await createTestTables('keys-admin');
  handler = await loadKeysAdminHandler(tables);
});
afterAll(async () => tables.drop());

/** The capture of the latest invocation's logs. */
let logs: ReturnType<typeof captureOutput> | undefined;

/** Invokes the keys-admin function as Lambda would, capturing what it logs. */
async function invoke(event: unknown, context?: Context): Promise<Answer> {
  logs = captureOutput();
  try {
    return (await handler(event, context ?? lambdaContext())) as Answer;
  } finally {
    logs.restore();
  }
}

function auditLines(): Record<string, unknown>[] {
  return (logs?.jsonLines() ?? []).filter((line) => line.message === 'audit');
}

function metadataOf(answer: Answer, field = 'key'): KeyMetadata {
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return answer[field] as KeyMetadata;
}

function expectMetadataShape(key: KeyMetadata): void {
  expect(Object.keys(key).sort()).toEqual(METADATA_FIELDS);
  expect(key.start).toMatch(/^kg_test_[0-9A-Za-z]{4}$/);
  for (const value of Object.values(key)) expect(value).not.toBeUndefined();
}

async function newUser(extra: Record<string, unknown> = {}): Promise<string> {
  const userId = uniqueUserId('admin');
  const answer = await invoke({ action: 'create-user', userId, ...extra });
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return userId;
}

async function newKey(userId: string, extra: Record<string, unknown> = {}) {
  const answer = await invoke({ action: 'create', userId, ...extra });
  return { apiKey: answer.apiKey as string, key: metadataOf(answer), answer };
}

describe('create-user', () => {
  it('creates a user and answers with its view', async () => {
    const userId = uniqueUserId('admin');

    const answer = await invoke({ action: 'create-user', userId, defaultProjectId: 'proj-1' });

    expect(Object.keys(answer).sort()).toEqual(['ok', 'user']);
    const user = answer.user as UserView;
    expect(user).toEqual({
      userId,
      status: 'active',
      defaultProjectId: 'proj-1',
      createdAt: expect.any(String),
    });
  });

  it('answers null for an absent default project', async () => {
    const userId = uniqueUserId('admin');

    const answer = await invoke({ action: 'create-user', userId });

    expect((answer.user as UserView).defaultProjectId).toBeNull();
  });

  it('refuses to create the same user twice with user_exists', async () => {
    const userId = await newUser();

    const answer = await invoke({ action: 'create-user', userId });

    expect(answer).toEqual({ ok: false, error: { code: 'user_exists', message: expect.any(String) } });
  });
});

describe('create', () => {
  it('answers the plaintext key once and metadata with every field, null when absent', async () => {
    const userId = await newUser();

    const { apiKey, key, answer } = await newKey(userId);

    expect(Object.keys(answer).sort()).toEqual(['apiKey', 'key', 'ok']);
    expect(apiKey).toMatch(/^kg_test_[0-9A-Za-z]{49}$/);
    expectMetadataShape(key);
    expect(key).toEqual({
      keyId: expect.stringMatching(/^key_/),
      userId,
      projectId: 'default',
      projectBound: false,
      name: null,
      status: 'active',
      start: apiKey.slice(0, 12),
      createdAt: expect.any(String),
      lastUsedAt: null,
      usageCount: 0,
      expiresAt: null,
      revokedAt: null,
      revokedReason: null,
      rateLimit: null,
      quota: null,
      budget: null,
      scopes: null,
      shards: 1,
    });
    expect(JSON.stringify(key)).not.toContain(hashKey(apiKey));
    expect(JSON.stringify(key)).not.toContain(apiKey);
  });

  it('stores name, project and a future expiry as given', async () => {
    const userId = await newUser();
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();

    const { key } = await newKey(userId, { name: 'ci', projectId: 'proj-x', expiresAt });

    expect(key).toMatchObject({ name: 'ci', projectId: 'proj-x', expiresAt });
  });

  it('refuses an expiresAt in the past', async () => {
    const userId = await newUser();

    const answer = await invoke({ action: 'create', userId, expiresAt: '2020-01-01T00:00:00Z' });

    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_expiry' } });
  });

  it('refuses an unknown user and a suspended user', async () => {
    const suspended = await newUser();
    expect((await invoke({ action: 'suspend-user', userId: suspended })).ok).toBe(true);

    const unknown = await invoke({ action: 'create', userId: uniqueUserId('ghost') });
    const refused = await invoke({ action: 'create', userId: suspended });

    expect(unknown).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'user_suspended' } });
  });
});

describe('create with limits and scopes', () => {
  it('stores them and answers them in the metadata', async () => {
    const userId = await newUser();

    const { key } = await newKey(userId, {
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 10_000, period: 'month' },
      scopes: { providers: ['openai'], models: ['gpt-4o*'], operations: ['chat', 'embedding'] },
      shards: 1,
    });

    expectMetadataShape(key);
    expect(key).toMatchObject({
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 10_000, period: 'month', used: 0, resetsAt: expect.any(String) },
      scopes: { providers: ['openai'], models: ['gpt-4o*'], operations: ['chat', 'embedding'] },
      shards: 1,
    });
    expect(metadataOf(await invoke({ action: 'get', userId, keyId: key.keyId }))).toEqual(key);
  });
});

describe('update', () => {
  it('changes each field it names, answers the metadata and audits the key', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId, { name: 'ci' });
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();

    const answer = await invoke({
      action: 'update',
      userId,
      keyId: key.keyId,
      name: 'deploy',
      expiresAt,
      rateLimit: { limit: 5, windowSeconds: 1 },
      quota: { limit: 20, period: 'total' },
      scopes: { providers: ['ollama'] },
      shards: 1,
    });

    expect(Object.keys(answer).sort()).toEqual(['key', 'ok']);
    const updated = metadataOf(answer);
    expectMetadataShape(updated);
    expect(updated).toEqual({
      ...key,
      name: 'deploy',
      expiresAt,
      rateLimit: { limit: 5, windowSeconds: 1 },
      quota: { limit: 20, period: 'total', used: 0, resetsAt: null },
      scopes: { providers: ['ollama'] },
      shards: 1,
    });
    expect(auditLines()).toEqual([
      expect.objectContaining({ action: 'update', user_id: userId, key_ids: [key.keyId], outcome: 'ok' }),
    ]);
  });

  it('clears each field given as null', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId, {
      name: 'ci',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      rateLimit: { limit: 5, windowSeconds: 60 },
      quota: { limit: 20, period: 'day' },
      scopes: { operations: ['chat'] },
      shards: 1,
    });

    const answer = await invoke({
      action: 'update',
      userId,
      keyId: key.keyId,
      name: null,
      expiresAt: null,
      rateLimit: null,
      quota: null,
      scopes: null,
      shards: 1,
    });

    expect(metadataOf(answer)).toMatchObject({
      name: null,
      expiresAt: null,
      rateLimit: null,
      quota: null,
      scopes: null,
      shards: 1,
    });
  });

  it('refuses a revoked key with key_not_active', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId);
    await invoke({ action: 'revoke', userId, keyId: key.keyId });

    const answer = await invoke({ action: 'update', userId, keyId: key.keyId, name: 'again' });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    expect(auditLines()).toEqual([expect.objectContaining({ action: 'update', outcome: 'key_not_active' })]);
  });

  it("refuses another user's key with key_not_found, and a past expiry with invalid_expiry", async () => {
    const owner = await newUser();
    const other = await newUser();
    const { key } = await newKey(owner);

    const foreign = await invoke({ action: 'update', userId: other, keyId: key.keyId, name: 'x' });
    const past = await invoke({
      action: 'update',
      userId: owner,
      keyId: key.keyId,
      expiresAt: '2020-01-01T00:00:00Z',
    });

    expect(foreign).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect(past).toMatchObject({ ok: false, error: { code: 'invalid_expiry' } });
  });
});

describe('list and get', () => {
  it('lists metadata only, newest first, with the counters', async () => {
    const userId = await newUser();
    const first = await newKey(userId, { name: 'one' });
    const second = await newKey(userId, { name: 'two' });
    await keyStoreFor(tables).service.verify(first.apiKey);

    const answer = await invoke({ action: 'list', userId });

    expect(Object.keys(answer).sort()).toEqual(['keys', 'nextToken', 'ok']);
    const keys = answer.keys as KeyMetadata[];
    expect(keys.map((key) => key.name)).toEqual(['two', 'one']);
    for (const key of keys) expectMetadataShape(key);
    expect(keys[1]).toMatchObject({ usageCount: 1, lastUsedAt: expect.any(String) });
    expect(answer.nextToken).toBeNull();
    const text = JSON.stringify(answer);
    for (const { apiKey } of [first, second]) {
      expect(text).not.toContain(apiKey);
      expect(text).not.toContain(hashKey(apiKey));
    }
  });

  it('pages with limit and nextToken', async () => {
    const userId = await newUser();
    for (let index = 0; index < 3; index += 1) await newKey(userId, { name: `k${index}` });

    const firstPage = await invoke({ action: 'list', userId, limit: 2 });
    const secondPage = await invoke({
      action: 'list',
      userId,
      limit: 2,
      nextToken: firstPage.nextToken,
    });

    expect((firstPage.keys as KeyMetadata[]).map((key) => key.name)).toEqual(['k2', 'k1']);
    expect(firstPage.nextToken).toEqual(expect.any(String));
    expect((secondPage.keys as KeyMetadata[]).map((key) => key.name)).toEqual(['k0']);
  });

  it('gets one key by id', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId, { name: 'solo' });

    const answer = await invoke({ action: 'get', userId, keyId: key.keyId });

    expect(Object.keys(answer).sort()).toEqual(['key', 'ok']);
    expect(metadataOf(answer)).toEqual(key);
  });

  it('answers key_not_found for an unknown key and for a key of another user', async () => {
    const owner = await newUser();
    const other = await newUser();
    const { key } = await newKey(owner);

    const unknown = await invoke({ action: 'get', userId: owner, keyId: 'key_doesnotexist' });
    const foreign = await invoke({ action: 'get', userId: other, keyId: key.keyId });

    expect(unknown).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect(foreign).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
  });
});

describe('revoke', () => {
  it('revokes a key with a reason and answers its metadata', async () => {
    const userId = await newUser();
    const { apiKey, key } = await newKey(userId);

    const answer = await invoke({ action: 'revoke', userId, keyId: key.keyId, reason: 'leaked' });

    const revoked = metadataOf(answer);
    expectMetadataShape(revoked);
    expect(revoked).toMatchObject({ keyId: key.keyId, status: 'revoked', revokedAt: expect.any(String) });
    expect(JSON.stringify(answer)).not.toContain(hashKey(apiKey));
    expect(await keyStoreFor(tables).service.verify(apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it("refuses to revoke another user's key and leaves it working", async () => {
    const owner = await newUser();
    const other = await newUser();
    const { apiKey, key } = await newKey(owner);

    const answer = await invoke({ action: 'revoke', userId: other, keyId: key.keyId });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect((await keyStoreFor(tables).service.verify(apiKey)).ok).toBe(true);
  });

  it('refuses to revoke a key twice', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId);
    await invoke({ action: 'revoke', userId, keyId: key.keyId });

    const answer = await invoke({ action: 'revoke', userId, keyId: key.keyId });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
  });
});

describe('rotate', () => {
  it('answers the new key, its metadata and the retired keys', async () => {
    const userId = await newUser();
    const old = await newKey(userId);

    const answer = await invoke({ action: 'rotate', userId, graceSeconds: 60 });

    expect(Object.keys(answer).sort()).toEqual(['apiKey', 'key', 'ok', 'retired']);
    expect(answer.apiKey).toMatch(/^kg_test_[0-9A-Za-z]{49}$/);
    expectMetadataShape(metadataOf(answer));
    const retired = answer.retired as KeyMetadata[];
    expect(retired.map((key) => key.keyId)).toEqual([old.key.keyId]);
    for (const key of retired) expectMetadataShape(key);
    expect(retired[0]?.expiresAt).toEqual(expect.any(String));
  });

  it('accepts the maximum grace of 604800 seconds and refuses more', async () => {
    const userId = await newUser();
    await newKey(userId);

    const tooLong = await invoke({ action: 'rotate', userId, graceSeconds: 604_801 });
    const longest = await invoke({ action: 'rotate', userId, graceSeconds: 604_800 });

    expect(tooLong).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
    expect(tooLong.error?.message).toContain('graceSeconds');
    expect(longest.ok).toBe(true);
  });

  it('issues a key with retired [] for a user without active keys', async () => {
    const userId = await newUser();

    const answer = await invoke({ action: 'rotate', userId });

    expect(answer).toMatchObject({ ok: true, retired: [] });
  });

  it('refuses a keyId that is not active', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId);
    await invoke({ action: 'revoke', userId, keyId: key.keyId });

    const answer = await invoke({ action: 'rotate', userId, keyId: key.keyId });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
  });
});

describe('suspend-user and reactivate-user', () => {
  it('refuses the keys of a suspended user until it is reactivated', async () => {
    const userId = await newUser();
    const { apiKey } = await newKey(userId);
    const service = keyStoreFor(tables).service;

    const suspended = await invoke({ action: 'suspend-user', userId });
    const whileSuspended = await service.verify(apiKey);
    const reactivated = await invoke({ action: 'reactivate-user', userId });

    expect((suspended.user as UserView).status).toBe('suspended');
    expect(whileSuspended).toMatchObject({ ok: false, reason: 'suspended' });
    expect((reactivated.user as UserView).status).toBe('active');
    expect((await service.verify(apiKey)).ok).toBe(true);
  });

  it('refuses to suspend an unknown user', async () => {
    const answer = await invoke({ action: 'suspend-user', userId: uniqueUserId('ghost') });

    expect(answer).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
  });
});

describe('invalid events', () => {
  const userId = 'someone';
  it.each([
    ['null', null],
    ['a string', 'create'],
    ['an array', [{ action: 'create', userId }]],
    ['no action', { userId }],
    ['an unknown action', { action: 'delete', userId }],
    ['no userId', { action: 'create' }],
    ['an empty userId', { action: 'create', userId: '' }],
    ['an unknown field', { action: 'create', userId, owner: 'x' }],
    ['a malformed keyId', { action: 'get', userId, keyId: 'kg_test_abc' }],
    ['a name over 64 chars', { action: 'create', userId, name: 'n'.repeat(65) }],
    ['a projectId over 128 chars', { action: 'create', userId, projectId: 'p'.repeat(129) }],
    ['an expiresAt that is not ISO 8601', { action: 'create', userId, expiresAt: 'tomorrow' }],
    ['a negative graceSeconds', { action: 'rotate', userId, graceSeconds: -1 }],
    ['a fractional graceSeconds', { action: 'rotate', userId, graceSeconds: 1.5 }],
    ['a list limit of 0', { action: 'list', userId, limit: 0 }],
    ['a list limit over 1000', { action: 'list', userId, limit: 1001 }],
    ['a string list limit', { action: 'list', userId, limit: '10' }],
    ['a rate limit of 0', { action: 'create', userId, rateLimit: { limit: 0, windowSeconds: 60 } }],
    ['a window over a day', { action: 'create', userId, rateLimit: { limit: 1, windowSeconds: 86_401 } }],
    ['an unknown quota period', { action: 'create', userId, quota: { limit: 1, period: 'week' } }],
    ['an unknown operation scope', { action: 'create', userId, scopes: { operations: ['dance'] } }],
    ['an upper-case provider scope', { action: 'create', userId, scopes: { providers: ['OpenAI'] } }],
    ['an update without a field', { action: 'update', userId, keyId: 'key_abc' }],
    ['an update without keyId', { action: 'update', userId, name: 'x' }],
  ])('answers ok:false invalid_event for %s', async (_case, event) => {
    const answer = await invoke(event);

    expect(answer).toEqual({
      ok: false,
      error: { code: 'invalid_event', message: expect.stringMatching(/^Invalid event/) },
    });
  });

  it('writes nothing for an invalid event', async () => {
    const before = (await scanApiKeys(tables)).length;

    await invoke({ action: 'create', userId: 'x', unexpected: true });

    expect((await scanApiKeys(tables)).length).toBe(before);
  });
});

describe('audit log', () => {
  it('logs one audit line per action with the actor from the client context and the key ids', async () => {
    const userId = await newUser();
    const context = lambdaContext({ clientContext: { custom: { actor: 'alice@ops' } } as never });

    const created = await invoke({ action: 'create', userId }, context);
    const createAudit = auditLines();
    const keyId = metadataOf(created).keyId;
    await invoke({ action: 'revoke', userId, keyId }, context);
    const revokeAudit = auditLines();

    expect(createAudit).toHaveLength(1);
    expect(createAudit[0]).toMatchObject({
      actor: 'alice@ops',
      action: 'create',
      user_id: userId,
      key_ids: [keyId],
      outcome: 'ok',
    });
    expect(revokeAudit).toEqual([
      expect.objectContaining({ actor: 'alice@ops', action: 'revoke', key_ids: [keyId], outcome: 'ok' }),
    ]);
    expect(logs?.output()).not.toContain(created.apiKey as string);
  });

  it.each([
    ['the SDK spelling Custom', { Custom: { actor: 'bob' } }, 'bob'],
    ['no client context', undefined, 'unknown'],
  ])('takes the actor from %s', async (_case, clientContext, actor) => {
    const context = lambdaContext(clientContext ? { clientContext: clientContext as never } : {});

    await invoke({ action: 'list', userId: 'nobody-here' }, context);

    expect(auditLines()).toEqual([expect.objectContaining({ actor, action: 'list' })]);
  });

  it('logs refusals and invalid events with their outcome', async () => {
    const userId = await newUser();

    await invoke({ action: 'create-user', userId });
    const refusal = auditLines();
    await invoke({ action: 'nonsense' });
    const invalid = auditLines();

    expect(refusal).toEqual([expect.objectContaining({ action: 'create-user', outcome: 'user_exists' })]);
    expect(invalid).toEqual([expect.objectContaining({ action: 'invalid', outcome: 'invalid_event' })]);
  });

  it('logs every action of a rotation with the new and the retired key ids', async () => {
    const userId = await newUser();
    const old = await newKey(userId);

    const answer = await invoke({ action: 'rotate', userId });

    const [audit] = auditLines();
    expect(audit?.key_ids).toEqual(expect.arrayContaining([metadataOf(answer).keyId, old.key.keyId]));
  });
});
