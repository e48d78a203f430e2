/**
 * What a rotated key inherits (SPEC §6): the name, project binding, limits and scopes of the
 * key it replaces (the newest one when rotating all) — and fresh counters
 * (docs/decisions/0007, "Rotation and update").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { expectOk, keyStoreFor, type TestClock, testClock, uniqueUserId } from '../../../support/keystore.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-rotate-inherits');
});
afterAll(async () => tables.drop());

const SETTINGS = {
  name: 'billing-agent',
  projectId: 'proj-billing',
  rateLimit: { limit: 3, windowSeconds: 3600 },
  quota: { limit: 1000, period: 'month' as const },
  scopes: { providers: ['anthropic'], models: ['claude-*'], operations: ['chat' as const] },
};

async function userWithService(clock: TestClock = testClock('2030-01-01T00:00:30.000Z')) {
  const store = keyStoreFor(tables, { clock });
  const userId = uniqueUserId('inherit');
  expectOk(await store.service.createUser({ userId, defaultProjectId: 'proj-default' }));
  return { store, clock, userId };
}

async function stored(apiKey: string): Promise<ApiKeyItem> {
  const item = await keyStoreFor(tables).keys.findByHash(hashKey(apiKey));
  if (!item) throw new Error('key item missing');
  return item;
}

/** `count` calls through a verifier of its own (another authorizer container). */
async function use(clock: TestClock, apiKey: string, count: number): Promise<string[]> {
  const service = keyStoreFor(tables, { clock }).service;
  const results: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const result = await service.verify(apiKey);
    results.push(result.ok ? 'ok' : result.reason);
  }
  return results;
}

const COUNTERS = ['rate_window_start', 'rate_count', 'quota_period_start', 'quota_used'] as const;

describe('rotating one key', () => {
  it('gives the new key the name, project binding, limits and scopes, with fresh counters', async () => {
    const { store, clock, userId } = await userWithService();
    const old = expectOk(await store.service.createKey({ userId, ...SETTINGS }));
    expect(await use(clock, old.apiKey, 4)).toEqual(['ok', 'ok', 'ok', 'rate_limited']);

    const rotated = expectOk(await store.service.rotate({ userId, keyId: old.key.keyId }));

    expect(rotated.key).toMatchObject({
      name: SETTINGS.name,
      projectId: SETTINGS.projectId,
      projectBound: true,
      rateLimit: SETTINGS.rateLimit,
      quota: { ...SETTINGS.quota, used: 0 },
      scopes: SETTINGS.scopes,
    });
    const item = await stored(rotated.apiKey);
    for (const counter of COUNTERS) expect(item[counter], counter).toBeUndefined();
    // The old key's spent window does not carry over.
    expect(await use(clock, rotated.apiKey, 4)).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
  });

  it('takes a name given to the rotation over the inherited one, and keeps the rest', async () => {
    const { store, userId } = await userWithService();
    const old = expectOk(await store.service.createKey({ userId, ...SETTINGS }));

    const rotated = expectOk(await store.service.rotate({ userId, keyId: old.key.keyId, name: 'renamed' }));

    expect(rotated.key).toMatchObject({
      name: 'renamed',
      rateLimit: SETTINGS.rateLimit,
      scopes: SETTINGS.scopes,
    });
  });

  it('inherits what an update changed last', async () => {
    const { store, userId } = await userWithService();
    const old = expectOk(await store.service.createKey({ userId, ...SETTINGS }));
    expectOk(
      await store.service.updateKey({
        userId,
        keyId: old.key.keyId,
        rateLimit: null,
        quota: { limit: 50, period: 'day' },
        scopes: { operations: ['embedding'] },
      }),
    );

    const rotated = expectOk(await store.service.rotate({ userId, keyId: old.key.keyId }));

    expect(rotated.key).toMatchObject({
      rateLimit: null,
      quota: { limit: 50, period: 'day', used: 0 },
      scopes: { operations: ['embedding'] },
    });
  });
});

describe('rotating all keys', () => {
  it("gives the new key the newest active key's settings", async () => {
    const { store, clock, userId } = await userWithService();
    expectOk(await store.service.createKey({ userId, ...SETTINGS }));
    clock.advance(1000);
    const newest = expectOk(
      await store.service.createKey({
        userId,
        name: 'newest',
        rateLimit: { limit: 7, windowSeconds: 60 },
        scopes: { providers: ['openai'] },
      }),
    );

    const rotated = expectOk(await store.service.rotate({ userId }));

    expect(rotated.retired).toHaveLength(2);
    expect(rotated.key).toMatchObject({
      name: 'newest',
      projectId: 'proj-default',
      projectBound: false,
      rateLimit: newest.key.rateLimit,
      quota: null,
      scopes: { providers: ['openai'] },
    });
  });

  it('issues a key with no limits or scopes for a user without active keys', async () => {
    const { store, userId } = await userWithService();

    const rotated = expectOk(await store.service.rotate({ userId }));

    expect(rotated.key).toMatchObject({ rateLimit: null, quota: null, scopes: null, projectBound: false });
  });
});
