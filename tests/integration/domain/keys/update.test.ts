/**
 * A key's limits and scopes through the key service on DynamoDB Local (SPEC §5, §6): `create`
 * stores them, `update` changes or clears them in one conditional write (keeping a counter
 * only while its window length or period stays), and the metadata shows them.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SCOPES_BYTES } from '../../../../shared/domain/admin/events.js';
import { micros } from '../../../../shared/domain/budgets/money.js';
import { createBudgetViews } from '../../../../shared/domain/keys/budget-views.js';
import { hashKey } from '../../../../shared/domain/keys/format.js';
import { createKeyLookup } from '../../../../shared/domain/keys/lookup.js';
import type { ApiKeyItem, KeyScopes } from '../../../../shared/domain/keys/model.js';
import type { KeyStore } from '../../../../shared/domain/keys/ports.js';
import { createKeyUpdate } from '../../../../shared/domain/keys/update.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { expectOk, keyStoreFor, type TestClock, testClock, uniqueUserId } from '../../../support/keystore.js';
import { silentLogger } from '../../../support/logs.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-update');
});
afterAll(async () => tables.drop());

/** Half a minute into a day, a month and an hour: every window below starts at midnight. */
const START = '2030-01-01T00:00:30.000Z';
const HOUR = 3_600_000;

const SCOPES: KeyScopes = { providers: ['openai', 'anthropic'], models: ['gpt-4o*'], operations: ['chat'] };

async function userWithService(clock: TestClock = testClock(START)) {
  const store = keyStoreFor(tables, { clock });
  const userId = uniqueUserId('upd');
  expectOk(await store.service.createUser({ userId }));
  return { store, clock, userId };
}

/** The key item as stored (strongly consistent). */
async function stored(apiKey: string): Promise<ApiKeyItem> {
  const item = await keyStoreFor(tables).keys.findByHash(hashKey(apiKey));
  if (!item) throw new Error('key item missing');
  return item;
}

/** A verifier of its own, as another authorizer container would be: it remembers nothing yet. */
const freshVerifier = (clock: TestClock) => keyStoreFor(tables, { clock }).service;

/** Outcomes of `count` calls in a row through one verifier. */
async function outcomes(clock: TestClock, apiKey: string, count: number): Promise<string[]> {
  const service = freshVerifier(clock);
  const results: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const result = await service.verify(apiKey);
    results.push(result.ok ? 'ok' : result.reason);
  }
  return results;
}

describe('create with limits and scopes', () => {
  it('stores them without counters and shows them in the metadata', async () => {
    const { store, userId } = await userWithService();

    const created = expectOk(
      await store.service.createKey({
        userId,
        rateLimit: { limit: 100, windowSeconds: 60 },
        quota: { limit: 10_000, period: 'month' },
        scopes: SCOPES,
      }),
    );

    expect(created.key).toMatchObject({
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 10_000, period: 'month', used: 0, resetsAt: '2030-02-01T00:00:00.000Z' },
      scopes: SCOPES,
    });
    const item = await stored(created.apiKey);
    expect(item).toMatchObject({
      rate_limit: 100,
      rate_window: 60,
      quota_limit: 10_000,
      quota_period: 'month',
      scopes: SCOPES,
    });
    for (const counter of ['rate_window_start', 'rate_count', 'quota_period_start', 'quota_used'] as const) {
      expect(item[counter]).toBeUndefined();
    }
  });

  it("shows the quota's use in the current period", async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId, quota: { limit: 5, period: 'day' } }));

    await outcomes(clock, created.apiKey, 3);
    const before = expectOk(await store.service.getKey({ userId, keyId: created.key.keyId }));
    clock.advance(24 * HOUR);
    const nextDay = expectOk(await store.service.getKey({ userId, keyId: created.key.keyId }));

    expect(before.key.quota).toEqual({
      limit: 5,
      period: 'day',
      used: 3,
      resetsAt: '2030-01-02T00:00:00.000Z',
    });
    expect(nextDay.key.quota).toEqual({
      limit: 5,
      period: 'day',
      used: 0,
      resetsAt: '2030-01-03T00:00:00.000Z',
    });
  });

  it('keeps a key item with the largest scopes, both limits and their counters within one write unit (1 KB)', async () => {
    const clock = testClock(START);
    const store = keyStoreFor(tables, { clock });
    const userId = `${uniqueUserId('size')}-`.padEnd(64, 'u');
    expectOk(await store.service.createUser({ userId }));
    const models: string[] = [];
    const largest = (): KeyScopes => ({
      providers: ['openai', 'anthropic', 'ollama'],
      models,
      operations: ['chat', 'completion', 'embedding', 'image', 'audio', 'vision', 'code'],
    });
    while (Buffer.byteLength(JSON.stringify(largest())) < MAX_SCOPES_BYTES - 12)
      models.push(`model-${models.length}*`);
    const created = expectOk(
      await store.service.createKey({
        userId,
        name: 'n'.repeat(64),
        projectId: 'p'.repeat(64),
        rateLimit: { limit: 1_000_000_000, windowSeconds: 86_400 },
        quota: { limit: 1_000_000_000, period: 'month' },
        scopes: largest(),
      }),
    );
    await outcomes(clock, created.apiKey, 2);
    // Retired with a grace period: the attributes a rotation adds while the key still works.
    expectOk(await store.service.rotate({ userId, keyId: created.key.keyId, graceSeconds: 3600 }));

    const written = await tables.doc.send(
      new UpdateCommand({
        TableName: tables.names.apiKeys,
        Key: { key_hash: hashKey(created.apiKey) },
        UpdateExpression: 'ADD usage_count :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );

    expect(Buffer.byteLength(JSON.stringify(largest()))).toBeLessThanOrEqual(MAX_SCOPES_BYTES);
    expect(await stored(created.apiKey)).toMatchObject({
      rate_count: 2,
      quota_used: 2,
      rotated_at: expect.any(String),
    });
    expect(written.ConsumedCapacity?.CapacityUnits).toBe(1);
  });
});

describe('update', () => {
  it('sets and clears the name and the expiry', async () => {
    const { store, userId } = await userWithService();
    const { key } = expectOk(await store.service.createKey({ userId, name: 'ci' }));

    const set = expectOk(
      await store.service.updateKey({
        userId,
        keyId: key.keyId,
        name: 'deploy',
        expiresAt: '2030-06-01T00:00:00Z',
      }),
    );
    const cleared = expectOk(
      await store.service.updateKey({ userId, keyId: key.keyId, name: null, expiresAt: null }),
    );

    expect(set.key).toMatchObject({ name: 'deploy', expiresAt: '2030-06-01T00:00:00.000Z' });
    expect(cleared.key).toMatchObject({ name: null, expiresAt: null });
    expect(cleared.key).toEqual(expectOk(await store.service.getKey({ userId, keyId: key.keyId })).key);
  });

  it('refuses an expiry that is not in the future and changes nothing', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId, name: 'ci' }));

    const refused = await store.service.updateKey({
      userId,
      keyId: created.key.keyId,
      name: 'other',
      expiresAt: '2029-12-31T23:59:59Z',
    });

    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_expiry' } });
    expect((await stored(created.apiKey)).name).toBe('ci');
  });

  it('gives an expired key a new expiry, and it works again', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, expiresAt: new Date(clock().getTime() + HOUR).toISOString() }),
    );
    clock.advance(2 * HOUR);
    const expired = await freshVerifier(clock).verify(created.apiKey);

    const extended = expectOk(
      await store.service.updateKey({
        userId,
        keyId: created.key.keyId,
        expiresAt: new Date(clock().getTime() + HOUR).toISOString(),
      }),
    );

    expect(expired).toMatchObject({ ok: false, reason: 'expired' });
    expect(extended.key.status).toBe('active');
    expect(await outcomes(clock, created.apiKey, 1)).toEqual(['ok']);
  });

  it('sets limits and scopes on a key that had none, and null clears each with its counters', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId }));
    const keyId = created.key.keyId;

    const limited = expectOk(
      await store.service.updateKey({
        userId,
        keyId,
        rateLimit: { limit: 10, windowSeconds: 60 },
        quota: { limit: 100, period: 'total' },
        scopes: { models: ['llama3*'] },
      }),
    );
    await outcomes(clock, created.apiKey, 2);
    const counted = await stored(created.apiKey);
    const cleared = expectOk(
      await store.service.updateKey({ userId, keyId, rateLimit: null, quota: null, scopes: null }),
    );

    expect(limited.key).toMatchObject({
      rateLimit: { limit: 10, windowSeconds: 60 },
      quota: { limit: 100, period: 'total', used: 0, resetsAt: null },
      scopes: { models: ['llama3*'] },
    });
    expect(counted).toMatchObject({ rate_count: 2, quota_used: 2 });
    expect(cleared.key).toMatchObject({ rateLimit: null, quota: null, scopes: null });
    const item = await stored(created.apiKey);
    for (const attribute of [
      'rate_limit',
      'rate_window',
      'rate_window_start',
      'rate_count',
      'quota_limit',
      'quota_period',
      'quota_period_start',
      'quota_used',
      'scopes',
    ] as const) {
      expect(item[attribute], attribute).toBeUndefined();
    }
    expect(await outcomes(clock, created.apiKey, 12)).toEqual(Array(12).fill('ok'));
  });

  it('keeps the count when only the rate limit changes, and restarts it when the window changes', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, rateLimit: { limit: 2, windowSeconds: 3600 } }),
    );
    const keyId = created.key.keyId;
    const spent = await outcomes(clock, created.apiKey, 3);

    expectOk(await store.service.updateKey({ userId, keyId, rateLimit: { limit: 3, windowSeconds: 3600 } }));
    const kept = await stored(created.apiKey);
    const raised = await outcomes(clock, created.apiKey, 2);
    expectOk(await store.service.updateKey({ userId, keyId, rateLimit: { limit: 3, windowSeconds: 7200 } }));
    const restarted = await stored(created.apiKey);
    const newWindow = await outcomes(clock, created.apiKey, 4);

    expect(spent).toEqual(['ok', 'ok', 'rate_limited']);
    expect(kept).toMatchObject({ rate_limit: 3, rate_window: 3600, rate_count: 2 });
    expect(raised).toEqual(['ok', 'rate_limited']);
    expect(restarted).toMatchObject({ rate_limit: 3, rate_window: 7200 });
    expect(restarted.rate_count).toBeUndefined();
    expect(restarted.rate_window_start).toBeUndefined();
    expect(newWindow).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
  });

  it('keeps the usage when only the quota changes, and restarts it when the period changes', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId, quota: { limit: 2, period: 'day' } }));
    const keyId = created.key.keyId;
    await outcomes(clock, created.apiKey, 2);

    const lowered = expectOk(
      await store.service.updateKey({ userId, keyId, quota: { limit: 1, period: 'day' } }),
    );
    const stillSpent = await outcomes(clock, created.apiKey, 1);
    const monthly = expectOk(
      await store.service.updateKey({ userId, keyId, quota: { limit: 1, period: 'month' } }),
    );
    const newPeriod = await outcomes(clock, created.apiKey, 2);

    expect(lowered.key.quota).toMatchObject({ limit: 1, period: 'day', used: 2 });
    expect(stillSpent).toEqual(['quota_exceeded']);
    expect(monthly.key.quota).toMatchObject({ limit: 1, period: 'month', used: 0 });
    expect(newPeriod).toEqual(['ok', 'quota_exceeded']);
  });

  it('replaces the scopes as a whole', async () => {
    const { store, userId } = await userWithService();
    const { key } = expectOk(await store.service.createKey({ userId, scopes: SCOPES }));

    const updated = expectOk(
      await store.service.updateKey({ userId, keyId: key.keyId, scopes: { operations: ['embedding'] } }),
    );

    expect(updated.key.scopes).toEqual({ operations: ['embedding'] });
  });

  it('refuses to update a revoked key with key_not_active and leaves it as it was', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId, name: 'ci' }));
    expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));
    const before = await stored(created.apiKey);

    const answer = await store.service.updateKey({
      userId,
      keyId: created.key.keyId,
      name: 'revived',
      rateLimit: { limit: 1, windowSeconds: 1 },
    });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    expect(await stored(created.apiKey)).toEqual(before);
  });

  it("answers key_not_found for an unknown key and for another user's key", async () => {
    const owner = await userWithService();
    const other = await userWithService();
    const created = expectOk(await owner.store.service.createKey({ userId: owner.userId, name: 'mine' }));

    const unknown = await owner.store.service.updateKey({
      userId: owner.userId,
      keyId: 'key_nope',
      name: 'x',
    });
    const foreign = await other.store.service.updateKey({
      userId: other.userId,
      keyId: created.key.keyId,
      name: 'theirs',
    });

    expect(unknown).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect(foreign).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect((await stored(created.apiKey)).name).toBe('mine');
  });
});

describe("update's one conditional write", () => {
  it('refuses to keep a count when the window length changed meanwhile, returning the key as it is', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, rateLimit: { limit: 5, windowSeconds: 120 } }),
    );
    await outcomes(clock, created.apiKey, 1);

    const written = await store.keys.update(hashKey(created.apiKey), userId, {
      rateLimit: { limit: 9, windowSeconds: 60, keepCount: true },
    });

    expect(written).toMatchObject({ ok: false, current: { rate_limit: 5, rate_window: 120, rate_count: 1 } });
  });

  it('refuses a key of another user without changing it', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId, name: 'mine' }));

    const written = await store.keys.update(hashKey(created.apiKey), 'someone-else', { name: 'theirs' });

    expect(written).toMatchObject({ ok: false, current: { user_id: userId, name: 'mine' } });
  });

  it('computes the change again when another update changed the window in between', async () => {
    const { store, clock, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, rateLimit: { limit: 5, windowSeconds: 60 } }),
    );
    await outcomes(clock, created.apiKey, 2);
    const real = store.keys;
    let raced = false;
    // Another operator changes the window between this update's read and its write.
    const racing: Pick<KeyStore, 'update'> = {
      async update(keyHash, owner, change) {
        if (!raced) {
          raced = true;
          await real.update(keyHash, owner, {
            rateLimit: { limit: 5, windowSeconds: 120, keepCount: false },
          });
        }
        return real.update(keyHash, owner, change);
      },
    };
    const updateKey = createKeyUpdate({
      keys: racing,
      budgets: store.budgets,
      defaultBudgetHold: micros(500_000),
      lookup: createKeyLookup(real),
      describe: createBudgetViews({ budgets: store.budgets, logger: silentLogger }).describe,
      logger: silentLogger,
      clock,
    });

    const answer = expectOk(
      await updateKey({ userId, keyId: created.key.keyId, rateLimit: { limit: 8, windowSeconds: 60 } }),
    );

    expect(answer.key.rateLimit).toEqual({ limit: 8, windowSeconds: 60 });
    const item = await stored(created.apiKey);
    expect(item).toMatchObject({ rate_limit: 8, rate_window: 60 });
    // The count of the other window length was dropped, not carried into this one.
    expect(item.rate_count).toBeUndefined();
  });
});
