/**
 * Sharded keys through keys-admin on DynamoDB Local (docs/decisions/0012-sharded-keys.md): the
 * real keys-admin events, key service and store; calls through the real verifier and verify
 * write. `create` with `shards` writes the key's item and its shard items in one transaction
 * (the user index lists the key once); `get`, `list` and `usage` sum the shards; `update` re-shards
 * with usage kept exact and reaches every shard; `revoke` reaches every shard; a shard count
 * outside 1–64 is refused like any other invalid field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoKeyVerificationStore } from '../../../../shared/adapters/dynamodb/key-verification-store.js';
import { type AdminAnswer, createKeysAdmin } from '../../../../shared/domain/admin/keys-admin.js';
import { hashKey } from '../../../../shared/domain/keys/format.js';
import type { KeyMetadata } from '../../../../shared/domain/keys/metadata.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import type { KeyUsage } from '../../../../shared/domain/keys/usage.js';
import { createKeyVerifier } from '../../../../shared/domain/keys/verify.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { keyStoreFor, scanApiKeys, testClock, uniqueUserId } from '../../../support/keystore.js';
import { silentLogger } from '../../../support/logs.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('sharded-admin');
});
afterAll(async () => tables?.drop());

/** Ten minutes into an hour: the hour's rate window stays current however long the test runs. */
const clock = testClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 600_000));

function admin() {
  const store = keyStoreFor(tables, { clock });
  const keysAdmin = createKeysAdmin({ keys: store.service, logger: silentLogger });
  return async (event: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const answer: AdminAnswer = await keysAdmin(event, 'test');
    if (!answer.ok) throw new Error(`${String(event.action)} refused: ${answer.error.message}`);
    return answer;
  };
}

/** A verifier of its own, as another authorizer container would be. */
const verifier = () =>
  createKeyVerifier({
    keys: new DynamoKeyVerificationStore(tables.doc, tables.names.apiKeys),
    environment: 'test',
    clock,
  });

/** `count` calls at once; each must be admitted. */
async function call(apiKey: string, count: number): Promise<void> {
  const { verify } = verifier();
  const results = await Promise.all(Array.from({ length: count }, () => verify(apiKey)));
  expect(results.filter((result) => !result.ok)).toEqual([]);
}

/** The key's own item and its shard items, as stored. */
async function itemsOf(apiKey: string): Promise<{ head: ApiKeyItem; shards: ApiKeyItem[] }> {
  const hash = hashKey(apiKey);
  const all = await scanApiKeys(tables);
  const head = all.find((item) => item.key_hash === hash);
  if (!head) throw new Error('key item missing');
  const shards = all.filter((item) => item.shard_of === hash).sort((a, b) => (a.shard ?? 0) - (b.shard ?? 0));
  return { head, shards };
}

async function userWithKey(shards: number, extra: Record<string, unknown> = {}) {
  const run = admin();
  const userId = uniqueUserId('shadm');
  await run({ action: 'create-user', userId });
  const created = await run({
    action: 'create',
    userId,
    name: 'hot',
    rateLimit: { limit: 1000, windowSeconds: 3600 },
    quota: { limit: 10_000, period: 'total' },
    shards,
    ...extra,
  });
  const key = created.key as KeyMetadata;
  return { run, userId, apiKey: created.apiKey as string, keyId: key.keyId, key };
}

async function usageOf(run: ReturnType<typeof admin>, userId: string, keyId: string): Promise<KeyUsage> {
  const answer = await run({ action: 'usage', userId, keyId });
  return (answer.usage as KeyUsage[])[0] as KeyUsage;
}

describe('create with shards', () => {
  it('writes the key and its 16 shards; the user index lists the key once', async () => {
    const { run, userId, apiKey, keyId, key } = await userWithKey(16);

    expect(key).toMatchObject({ keyId, shards: 16, usageCount: 0, lastUsedAt: null });
    const { head, shards } = await itemsOf(apiKey);
    expect(head.shards).toBe(16);
    expect(shards.map((shard) => shard.shard)).toEqual(Array.from({ length: 16 }, (_, index) => index));
    expect(1 + shards.length).toBe(17);
    // The slices add up to the whole limits.
    expect(shards.reduce((sum, shard) => sum + (shard.rate_limit ?? 0), 0)).toBe(1000);
    expect(shards.reduce((sum, shard) => sum + (shard.quota_limit ?? 0), 0)).toBe(10_000);

    const listed = await run({ action: 'list', userId });
    expect((listed.keys as KeyMetadata[]).map((listedKey) => listedKey.keyId)).toEqual([keyId]);
  });

  it('a key created without shards (or with 1) counts on its own item', async () => {
    const { apiKey, key } = await userWithKey(1);

    expect(key.shards).toBe(1);
    const { head, shards } = await itemsOf(apiKey);
    expect(head.shards).toBeUndefined();
    expect(shards).toEqual([]);
  });
});

describe('get, list and usage sum the shards', () => {
  it('after calls spread over the shards', async () => {
    const { run, userId, apiKey, keyId } = await userWithKey(16);

    await call(apiKey, 40);

    const { shards } = await itemsOf(apiKey);
    expect(shards.filter((shard) => (shard.usage_count ?? 0) > 0).length).toBeGreaterThan(1);
    const got = (await run({ action: 'get', userId, keyId })).key as KeyMetadata;
    expect(got).toMatchObject({ usageCount: 40, shards: 16, quota: { limit: 10_000, used: 40 } });
    expect(got.lastUsedAt).toBe(clock().toISOString());
    const listed = (await run({ action: 'list', userId })).keys as KeyMetadata[];
    expect(listed.map((listedKey) => listedKey.usageCount)).toEqual([40]);
    const usage = await usageOf(run, userId, keyId);
    expect(usage).toMatchObject({
      usageCount: 40,
      shards: 16,
      rateLimit: { limit: 1000, used: 40, remaining: 960 },
      quota: { limit: 10_000, used: 40 },
      refusing: null,
    });
  });

  it('a spent rate limit shows as spent: used the whole limit, remaining 0, refusing', async () => {
    const { run, userId, apiKey, keyId } = await userWithKey(4, {
      rateLimit: { limit: 10, windowSeconds: 3600 },
    });

    await call(apiKey, 10);
    expect((await verifier().verify(apiKey)).ok).toBe(false);

    const usage = await usageOf(run, userId, keyId);
    expect(usage.rateLimit).toMatchObject({ limit: 10, used: 10, remaining: 0 });
    expect(usage.refusing?.reason).toBe('rate_limited');
  });
});

describe('update shards', () => {
  it('1 → 4 → 1 keeps usageCount and the window use exact', async () => {
    const { run, userId, apiKey, keyId } = await userWithKey(1);
    await call(apiKey, 7);

    const four = (await run({ action: 'update', userId, keyId, shards: 4 })).key as KeyMetadata;
    expect(four).toMatchObject({ shards: 4, usageCount: 7 });
    expect((await itemsOf(apiKey)).shards).toHaveLength(4);
    await call(apiKey, 9);
    expect(await usageOf(run, userId, keyId)).toMatchObject({
      usageCount: 16,
      rateLimit: { used: 16, remaining: 984 },
      quota: { used: 16 },
    });

    const one = (await run({ action: 'update', userId, keyId, shards: 1 })).key as KeyMetadata;
    expect(one).toMatchObject({ shards: 1, usageCount: 16 });
    expect((await itemsOf(apiKey)).shards).toEqual([]);
    await call(apiKey, 2);
    expect(await usageOf(run, userId, keyId)).toMatchObject({
      usageCount: 18,
      shards: 1,
      rateLimit: { used: 18, remaining: 982 },
      quota: { used: 18 },
    });
  });

  it('a change of name and scopes reaches every shard', async () => {
    const { run, userId, apiKey, keyId } = await userWithKey(8);
    const scopes = { providers: ['openai'] };

    const updated = (await run({ action: 'update', userId, keyId, name: 'renamed', scopes }))
      .key as KeyMetadata;

    expect(updated).toMatchObject({ name: 'renamed', scopes, shards: 8 });
    const { head, shards } = await itemsOf(apiKey);
    expect(head.name).toBe('renamed');
    expect(shards).toHaveLength(8);
    for (const shard of shards) {
      expect(shard.scopes).toEqual(scopes);
      expect(shard.config_version).toBe(head.config_version);
    }
  });

  it('revoke reaches every shard: no shard admits a call afterwards', async () => {
    const { run, userId, apiKey, keyId } = await userWithKey(8);
    await call(apiKey, 3);

    const revoked = (await run({ action: 'revoke', userId, keyId })).key as KeyMetadata;

    expect(revoked).toMatchObject({ status: 'revoked', usageCount: 3, shards: 8 });
    const { shards } = await itemsOf(apiKey);
    expect(shards.map((shard) => shard.status)).toEqual(Array(8).fill('revoked'));
    const { verify } = verifier();
    const results = await Promise.all(Array.from({ length: 16 }, () => verify(apiKey)));
    expect(results.every((result) => !result.ok && result.reason === 'revoked')).toBe(true);
  });
});

describe('invalid shard counts', () => {
  it.each([0, 65, 1.5, -1])('refuses shards %s on create and update, writing nothing', async (shards) => {
    const { userId, apiKey, keyId } = await userWithKey(2);
    const keysAdmin = createKeysAdmin({ keys: keyStoreFor(tables, { clock }).service, logger: silentLogger });
    const before = await scanApiKeys(tables);

    for (const event of [
      { action: 'create', userId, shards },
      { action: 'update', userId, keyId, shards },
    ]) {
      const answer = await keysAdmin(event, 'test');
      expect(answer.ok).toBe(false);
      if (answer.ok) continue;
      expect(answer.error.code).toBe('invalid_event');
      expect(answer.error.message).toMatch(/^Invalid event: shards: /);
    }
    expect(await scanApiKeys(tables)).toHaveLength(before.length);
    expect((await itemsOf(apiKey)).head.shards).toBe(2);
  });

  it('refuses a null shard count on update (1 is the unsharded count)', async () => {
    const { userId, keyId } = await userWithKey(2);
    const keysAdmin = createKeysAdmin({ keys: keyStoreFor(tables, { clock }).service, logger: silentLogger });

    const answer = await keysAdmin({ action: 'update', userId, keyId, shards: null }, 'test');

    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
  });
});
