/**
 * Sharded keys on DynamoDB Local (SPEC §5 "Hot keys", docs/decisions/0012-sharded-keys.md):
 * the real verifier and the real verify write against a key whose counting is spread over S
 * shard items. N parallel calls against a limit L admit exactly min(N, L), the shards' counts
 * add up to the admitted calls, every admitted call wrote exactly one shard, and revocation,
 * suspension and a changed limit reach every shard before they answer. A change of the shard
 * count moves what the limits have left exactly, so across re-shardings a lifetime quota still
 * admits exactly its limit.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoKeyStore } from '../../../../shared/adapters/dynamodb/api-key-store.js';
import { DynamoKeyVerificationStore } from '../../../../shared/adapters/dynamodb/key-verification-store.js';
import { generateKey } from '../../../../shared/domain/keys/format.js';
import { periodStartOf, windowStartOf } from '../../../../shared/domain/keys/limits.js';
import { type ApiKeyItem, shardHashOf } from '../../../../shared/domain/keys/model.js';
import { newShardItems, totalsOf } from '../../../../shared/domain/keys/shards.js';
import { changeFor } from '../../../../shared/domain/keys/update.js';
import { createKeyVerifier, type VerifyResult } from '../../../../shared/domain/keys/verify.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { scanApiKeys, uniqueUserId } from '../../../support/keystore.js';
import { type CountingClient, countingDocumentClient } from '../../../support/sdk.js';

let tables: TestTables;
let store: DynamoKeyStore;
let counting: CountingClient;

beforeAll(async () => {
  tables = await createTestTables('sharded-verify');
  store = new DynamoKeyStore({
    client: tables.doc,
    tableName: tables.names.apiKeys,
    usersTableName: tables.names.users,
    userKeysTableName: tables.names.userKeys,
    budgetsTableName: tables.names.budgets,
  });
  // 300 calls at once open 300 connections to DynamoDB Local on a small machine.
  counting = countingDocumentClient(tables.endpoint, { connectionTimeoutMs: 10_000 });
});
afterAll(async () => {
  counting?.doc.destroy();
  await tables?.drop();
});

/** A fresh verifier: one container (its own memory of shard counts and spent shards). */
const verifier = () =>
  createKeyVerifier({
    keys: new DynamoKeyVerificationStore(counting.doc, tables.names.apiKeys),
    environment: 'test',
  });

interface ShardedKey {
  apiKey: string;
  hash: string;
  item: ApiKeyItem;
}

async function shardedKey(shards: number, limits: Partial<ApiKeyItem> = {}): Promise<ShardedKey> {
  const userId = uniqueUserId('sharded');
  await tables.doc.send(
    new PutCommand({
      TableName: tables.names.users,
      Item: { user_id: userId, status: 'active', created_at: new Date().toISOString() },
    }),
  );
  const { key: apiKey, hash, start } = generateKey('test');
  const item: ApiKeyItem = {
    key_hash: hash,
    hash_version: 1,
    key_id: `key_${hash.slice(0, 12)}`,
    user_id: userId,
    project_id: 'default',
    status: 'active',
    start,
    created_at: new Date().toISOString(),
    usage_count: 0,
    ...(shards > 1 ? { shards } : {}),
    ...limits,
  };
  await store.create(item, undefined, shards > 1 ? newShardItems(item, shards) : []);
  return { apiKey, hash, item };
}

const admitted = (results: VerifyResult[]) => results.filter((result) => result.ok).length;

async function shardsOf(key: ShardedKey, shards: number) {
  return store.findShards(key.hash, shards);
}

async function usageOf(key: ShardedKey): Promise<number> {
  const head = (await store.findByHash(key.hash)) as ApiKeyItem;
  return totalsOf(head, await store.findShards(key.hash, head.shards ?? 1)).usageCount;
}

/** Calls from `containers` verifiers at once, `perContainer` each. */
async function burst(key: ShardedKey, containers: number, perContainer: number): Promise<VerifyResult[]> {
  const verifiers = Array.from({ length: containers }, verifier);
  const calls = verifiers.flatMap((one) =>
    Array.from({ length: perContainer }, () => one.verify(key.apiKey)),
  );
  return Promise.all(calls);
}

describe('a sharded key under concurrency', () => {
  it('without limits: 300 parallel calls over 16 shards are all admitted, each counted on exactly one shard', async () => {
    const key = await shardedKey(16);
    const containers = Array.from({ length: 6 }, verifier);
    // A container's first call learns the shard count from the key's own item (one more write)
    // and reads the shards once (one BatchGetItem).
    counting.reset();
    await Promise.all(containers.map((one) => one.verify(key.apiKey)));
    expect(counting.calls.filter((call) => call === 'UpdateItemCommand')).toHaveLength(12);
    expect(counting.calls.filter((call) => call === 'BatchGetItemCommand')).toHaveLength(6);
    expect(counting.calls).toHaveLength(18);
    counting.reset();

    const results = await Promise.all(
      containers.flatMap((one) => Array.from({ length: 50 }, () => one.verify(key.apiKey))),
    );

    expect(admitted(results)).toBe(300);
    // Warm containers: exactly one write per admitted call.
    expect(counting.calls).toHaveLength(300);
    const shards = await shardsOf(key, 16);
    expect(shards).toHaveLength(16);
    expect(shards.reduce((sum, shard) => sum + shard.usage_count, 0)).toBe(306);
    expect(shards.filter((shard) => shard.usage_count > 0).length).toBeGreaterThan(8);
    expect(await usageOf(key)).toBe(306);
  });

  it.each([
    { shards: 16, limit: 50 },
    { shards: 8, limit: 5 },
    { shards: 64, limit: 100 },
  ])(
    'rate limit $limit over $shards shards: 200 parallel calls admit exactly $limit',
    async ({ shards, limit }) => {
      const key = await shardedKey(shards, { rate_limit: limit, rate_window: 3600 });

      const results = await burst(key, 5, 40);

      expect(admitted(results)).toBe(limit);
      expect(results.filter((result) => !result.ok && result.reason === 'rate_limited')).toHaveLength(
        200 - limit,
      );
      const items = await shardsOf(key, shards);
      const window = windowStartOf(new Date(), 3600);
      expect(
        items.reduce(
          (sum, shard) => sum + (shard.rate_window_start === window ? (shard.rate_count ?? 0) : 0),
          0,
        ),
      ).toBe(limit);
      expect(items.every((shard) => (shard.rate_free ?? 0) >= 0)).toBe(true);
      expect(await usageOf(key)).toBe(limit);
    },
  );

  it('a lifetime quota of 37 over 8 shards: 120 parallel calls admit exactly 37, and a later call is refused', async () => {
    const key = await shardedKey(8, { quota_limit: 37, quota_period: 'total' });

    const results = await burst(key, 4, 30);
    const later = await verifier().verify(key.apiKey);

    expect(admitted(results)).toBe(37);
    expect(later).toMatchObject({ ok: false, reason: 'quota_exceeded' });
    expect(await usageOf(key)).toBe(37);
  });
});

describe('changes reach every shard before they answer', () => {
  it('revocation: the next call is refused whichever shard it picks', async () => {
    const key = await shardedKey(16);
    const warm = verifier();
    await Promise.all(Array.from({ length: 32 }, () => warm.verify(key.apiKey)));

    await store.revoke(key.hash, new Date(), 'test');

    const after = await Promise.all(Array.from({ length: 64 }, () => warm.verify(key.apiKey)));
    expect(after.every((result) => !result.ok && result.reason === 'revoked')).toBe(true);
    const shards = await shardsOf(key, 16);
    expect(shards.every((shard) => shard.status === 'revoked')).toBe(true);
  });

  it('suspension stamp: every shard refuses at once, and the reactivation stamp lets every shard count again', async () => {
    const key = await shardedKey(8);
    const warm = verifier();
    await Promise.all(Array.from({ length: 16 }, () => warm.verify(key.apiKey)));

    await store.stampUserStatus(key.hash, true, 1);
    const suspended = await Promise.all(Array.from({ length: 40 }, () => warm.verify(key.apiKey)));
    await store.stampUserStatus(key.hash, false, 2);
    const back = await Promise.all(Array.from({ length: 40 }, () => warm.verify(key.apiKey)));

    expect(suspended.every((result) => !result.ok && result.reason === 'suspended')).toBe(true);
    expect(admitted(back)).toBe(40);
    expect(await usageOf(key)).toBe(56);
  });

  it('a raised rate limit is followed on every shard: exactly the new limit in the same window', async () => {
    const key = await shardedKey(8, { rate_limit: 20, rate_window: 3600 });
    const first = await burst(key, 3, 20);
    expect(admitted(first)).toBe(20);

    const head = (await store.findByHash(key.hash)) as ApiKeyItem;
    const written = await store.update(
      key.hash,
      key.item.user_id,
      changeFor(
        { userId: key.item.user_id, keyId: key.item.key_id, rateLimit: { limit: 50, windowSeconds: 3600 } },
        head,
        undefined,
        undefined,
        new Date(),
      ),
    );
    expect(written.ok).toBe(true);
    // Past the 1 s a spent limit may be remembered.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await burst(key, 3, 20);

    expect(admitted(second)).toBe(30);
    expect(await usageOf(key)).toBe(50);
    const shards = await shardsOf(key, 8);
    expect(shards.every((shard) => shard.key_rate_limit === 50)).toBe(true);
  });

  it('re-sharding 1 → 4 → 16 → 3 → 1 with a lifetime quota of 100 and calls in between admits exactly 100', async () => {
    const key = await shardedKey(1, { quota_limit: 100, quota_period: 'total' });
    let total = 0;
    for (const shards of [4, 16, 3, 1]) {
      total += admitted(await burst(key, 3, 7));
      const head = (await store.findByHash(key.hash)) as ApiKeyItem;
      const written = await store.update(
        key.hash,
        key.item.user_id,
        changeFor(
          { userId: key.item.user_id, keyId: key.item.key_id, shards },
          head,
          undefined,
          undefined,
          new Date(),
        ),
      );
      expect(written.ok, `to ${shards}`).toBe(true);
      const items = (await scanApiKeys(tables)).filter((item) => item.key_hash.startsWith(key.hash));
      expect(items, `items at ${shards} shards`).toHaveLength(shards === 1 ? 1 : shards + 1);
    }
    // Spend the rest after the last change; the key is counted on its own item again.
    for (let round = 0; round < 10; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const more = admitted(await burst(key, 2, 20));
      total += more;
      if (more === 0) break;
    }

    expect(total).toBe(100);
    expect(await usageOf(key)).toBe(100);
    const head = (await store.findByHash(key.hash)) as ApiKeyItem;
    expect(head.shards).toBeUndefined();
    expect(head.quota_used).toBe(100);
    expect(periodStartOf(new Date(), 'total')).toBe(head.quota_period_start);
    expect(
      await tables.doc.send(
        new GetCommand({ TableName: tables.names.apiKeys, Key: { key_hash: shardHashOf(key.hash, 0) } }),
      ),
    ).not.toHaveProperty('Item.key_hash');
  });
});
