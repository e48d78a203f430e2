/**
 * Per-key rate limits and quotas in the one verify write (docs/decisions/0007), on DynamoDB
 * Local: several verifiers stand for several authorizer containers sharing one key, so
 * "exactly min(N, L)" is proven across containers, rollovers and clock skew, and every
 * store call is counted.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoKeyVerificationStore } from '../../../../shared/adapters/dynamodb/key-verification-store.js';
import { hashKey } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem, KeyScopes, QuotaPeriod } from '../../../../shared/domain/keys/model.js';
import type { KeyVerificationStore } from '../../../../shared/domain/keys/ports.js';
import { createKeyVerifier, type VerifyResult } from '../../../../shared/domain/keys/verify.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { expectOk, keyStoreFor, testClock, uniqueUserId } from '../../../support/keystore.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('key-limits');
});
afterAll(async () => tables.drop());

/** The store of one container, counting its DynamoDB calls. */
function countingStore(): KeyVerificationStore & { calls: number } {
  const real = new DynamoKeyVerificationStore(tables.doc, tables.names.apiKeys);
  const store = {
    calls: 0,
    verifyAndCount: (...args: Parameters<KeyVerificationStore['verifyAndCount']>) => {
      store.calls += 1;
      return real.verifyAndCount(...args);
    },
    readShards: (...args: Parameters<KeyVerificationStore['readShards']>) => real.readShards(...args),
    readKey: (...args: Parameters<KeyVerificationStore['readKey']>) => real.readKey(...args),
  };
  return store;
}

interface Limits {
  rate?: { limit: number; windowSeconds: number };
  quota?: { limit: number; period: QuotaPeriod };
  scopes?: KeyScopes;
}

/** A key with limits written onto its item (as keys-admin's create and update store them). */
async function limitedKey(limits: Limits): Promise<string> {
  const store = keyStoreFor(tables);
  const userId = uniqueUserId('limits');
  expectOk(await store.service.createUser({ userId }));
  const { apiKey } = expectOk(await store.service.createKey({ userId }));
  await setLimits(apiKey, limits);
  return apiKey;
}

async function setLimits(apiKey: string, limits: Limits): Promise<void> {
  const sets: string[] = [];
  const values: Record<string, unknown> = {};
  if (limits.rate) {
    sets.push('rate_limit = :rl', 'rate_window = :rw');
    Object.assign(values, { ':rl': limits.rate.limit, ':rw': limits.rate.windowSeconds });
  }
  if (limits.quota) {
    sets.push('quota_limit = :ql', 'quota_period = :qp');
    Object.assign(values, { ':ql': limits.quota.limit, ':qp': limits.quota.period });
  }
  if (limits.scopes) {
    sets.push('scopes = :scopes');
    values[':scopes'] = limits.scopes;
  }
  if (sets.length === 0) return;
  await tables.doc.send(
    new UpdateCommand({
      TableName: tables.names.apiKeys,
      Key: { key_hash: hashKey(apiKey) },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ExpressionAttributeValues: values,
    }),
  );
}

async function itemOf(apiKey: string): Promise<ApiKeyItem> {
  const item = await keyStoreFor(tables).keys.findByHash(hashKey(apiKey));
  if (!item) throw new Error('key item missing');
  return item;
}

const admitted = (results: VerifyResult[]) => results.filter((result) => result.ok).length;
const reasons = (results: VerifyResult[]) =>
  results.flatMap((result) => (result.ok ? [] : [result.reason])).sort();

/** 10:00:30 UTC on 2030-01-01: 30 s into a 60 s window. */
const T0 = '2030-01-01T10:00:30.000Z';

describe('a rate limit counted in the verify write', () => {
  it('admits exactly L of N parallel calls spread over four containers, and counts only those', async () => {
    const apiKey = await limitedKey({ rate: { limit: 15, windowSeconds: 3600 } });
    const clock = testClock(T0);
    const containers = Array.from({ length: 4 }, () => countingStore());
    const verifiers = containers.map((keys) => createKeyVerifier({ keys, environment: 'test', clock }));

    const results = await Promise.all(
      Array.from({ length: 60 }, (_, index) => verifiers[index % 4]?.verify(apiKey) as Promise<VerifyResult>),
    );

    expect(admitted(results)).toBe(15);
    expect(reasons(results)).toEqual(Array(45).fill('rate_limited'));
    const item = await itemOf(apiKey);
    expect(item).toMatchObject({ rate_count: 15, usage_count: 15 });
    // Each admission saw a distinct remaining count: 14 … 0.
    const remaining = results.flatMap((result) => (result.ok ? [result.limits.rate?.remaining] : []));
    expect(remaining.sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });

  it('starts a new window at the boundary, aligned to the epoch, and refuses with Retry-After until then', async () => {
    const apiKey = await limitedKey({ rate: { limit: 2, windowSeconds: 60 } });
    const clock = testClock(T0);
    const verifier = createKeyVerifier({ keys: countingStore(), environment: 'test', clock });

    const first = [
      await verifier.verify(apiKey),
      await verifier.verify(apiKey),
      await verifier.verify(apiKey),
    ];
    clock.advance(29_000); // 10:00:59
    const stillSpent = await verifier.verify(apiKey);
    clock.advance(1_000); // 10:01:00, the next window
    const next = await verifier.verify(apiKey);

    expect(first.map((result) => result.ok)).toEqual([true, true, false]);
    expect(first[2]).toMatchObject({
      ok: false,
      reason: 'rate_limited',
      retryAfterSeconds: 30,
      limits: { rate: { limit: 2, remaining: 0, resetSeconds: 30 } },
    });
    expect(stillSpent).toMatchObject({ reason: 'rate_limited', retryAfterSeconds: 1 });
    expect(next).toMatchObject({ ok: true, limits: { rate: { limit: 2, remaining: 1, resetSeconds: 60 } } });
    expect(await itemOf(apiKey)).toMatchObject({
      rate_window_start: Date.parse('2030-01-01T10:01:00.000Z') / 1000,
      rate_count: 1,
      usage_count: 3,
    });
  });

  it('stays exact when containers roll over the same window at once', async () => {
    const apiKey = await limitedKey({ rate: { limit: 5, windowSeconds: 60 } });
    const clock = testClock(T0);
    const verifiers = Array.from({ length: 4 }, () =>
      createKeyVerifier({ keys: countingStore(), environment: 'test', clock }),
    );
    // Every container has seen the key in this window.
    await Promise.all(verifiers.map((verifier) => verifier.verify(apiKey)));
    clock.advance(30_000);

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => verifiers[index % 4]?.verify(apiKey) as Promise<VerifyResult>),
    );

    expect(admitted(results)).toBe(5);
    expect(await itemOf(apiKey)).toMatchObject({ rate_count: 5, usage_count: 9 });
  });

  it('counts a call of a container whose clock is behind in the window another container started', async () => {
    const apiKey = await limitedKey({ rate: { limit: 3, windowSeconds: 60 } });
    const ahead = testClock('2030-01-01T10:01:00.200Z');
    const behind = testClock('2030-01-01T10:00:59.900Z');
    const fast = createKeyVerifier({ keys: countingStore(), environment: 'test', clock: ahead });
    const slow = createKeyVerifier({ keys: countingStore(), environment: 'test', clock: behind });

    await slow.verify(apiKey); // window 10:00
    await fast.verify(apiKey); // window 10:01 starts
    const late = await slow.verify(apiKey); // 10:00:59.9 by its clock: counted in 10:01, no restart

    expect(late.ok).toBe(true);
    expect(await itemOf(apiKey)).toMatchObject({
      rate_window_start: Date.parse('2030-01-01T10:01:00.000Z') / 1000,
      rate_count: 2,
    });
  });
});

describe('a quota counted in the verify write', () => {
  it('admits exactly L of N parallel calls of a total quota, then refuses without Retry-After', async () => {
    const apiKey = await limitedKey({ quota: { limit: 10, period: 'total' } });
    const clock = testClock(T0);
    const verifiers = Array.from({ length: 3 }, () =>
      createKeyVerifier({ keys: countingStore(), environment: 'test', clock }),
    );

    const results = await Promise.all(
      Array.from({ length: 25 }, (_, index) => verifiers[index % 3]?.verify(apiKey) as Promise<VerifyResult>),
    );
    clock.advance(400 * 24 * 3600 * 1000);
    const muchLater = await verifiers[0]?.verify(apiKey);

    expect(admitted(results)).toBe(10);
    expect(reasons(results)).toEqual(Array(15).fill('quota_exceeded'));
    expect(muchLater).toMatchObject({ ok: false, reason: 'quota_exceeded' });
    expect(muchLater).not.toHaveProperty('retryAfterSeconds');
    expect(muchLater).toMatchObject({ limits: { quota: { limit: 10, remaining: 0 } } });
    expect((muchLater as { limits: { quota: object } }).limits.quota).not.toHaveProperty('resetSeconds');
  });

  it.each([
    ['day', '2030-01-01T23:59:59.000Z', '2030-01-02T00:00:00.000Z', 1],
    ['month', '2030-01-31T23:59:00.000Z', '2030-02-01T00:00:00.000Z', 60],
  ] as const)('resets a %s quota at the UTC period end', async (period, before, after, resetSeconds) => {
    const apiKey = await limitedKey({ quota: { limit: 1, period } });
    const clock = testClock(before);
    const verifier = createKeyVerifier({ keys: countingStore(), environment: 'test', clock });

    const first = await verifier.verify(apiKey);
    const spent = await verifier.verify(apiKey);
    clock.set(after);
    const next = await verifier.verify(apiKey);

    expect(first).toMatchObject({ ok: true, limits: { quota: { limit: 1, remaining: 0, resetSeconds } } });
    expect(spent).toMatchObject({ ok: false, reason: 'quota_exceeded', retryAfterSeconds: resetSeconds });
    expect(next.ok).toBe(true);
    expect(await itemOf(apiKey)).toMatchObject({ quota_used: 1, usage_count: 2 });
  });

  it('names the quota when both limits are spent (waiting out the window would not help)', async () => {
    const apiKey = await limitedKey({
      rate: { limit: 1, windowSeconds: 60 },
      quota: { limit: 1, period: 'total' },
    });
    const verifier = createKeyVerifier({ keys: countingStore(), environment: 'test', clock: testClock(T0) });

    await verifier.verify(apiKey);

    expect(await verifier.verify(apiKey)).toMatchObject({ ok: false, reason: 'quota_exceeded' });
  });
});

describe('DynamoDB calls per verification', () => {
  it('is one for a key without limits, and for a limited key after the first sight, until a rollover', async () => {
    const plain = await limitedKey({});
    const limited = await limitedKey({
      rate: { limit: 1000, windowSeconds: 60 },
      quota: { limit: 100_000, period: 'day' },
    });
    const clock = testClock(T0);
    const keys = countingStore();
    const verifier = createKeyVerifier({ keys, environment: 'test', clock });

    for (let index = 0; index < 5; index += 1) await verifier.verify(plain);
    const plainCalls = keys.calls;
    await verifier.verify(limited); // first sight: learns the limits from the refused write
    const firstSight = keys.calls - plainCalls;
    for (let index = 0; index < 10; index += 1) expectOk(await verifier.verify(limited));
    const steady = keys.calls - plainCalls - firstSight;
    clock.advance(30_000); // next window: this container expects it, one call
    expectOk(await verifier.verify(limited));
    const ownRollover = keys.calls - plainCalls - firstSight - steady;

    expect(plainCalls).toBe(5);
    expect(firstSight).toBe(2);
    expect(steady).toBe(10);
    expect(ownRollover).toBe(1);
  });

  it('costs a container at most one extra call when another container rolled the window first', async () => {
    const apiKey = await limitedKey({ rate: { limit: 100, windowSeconds: 60 } });
    const clock = testClock(T0);
    const first = countingStore();
    const second = countingStore();
    const a = createKeyVerifier({ keys: first, environment: 'test', clock });
    const b = createKeyVerifier({ keys: second, environment: 'test', clock });
    await a.verify(apiKey);
    await b.verify(apiKey);
    const before = second.calls;
    clock.advance(30_000);

    await a.verify(apiKey); // starts the window
    await b.verify(apiKey); // expected to start it too: fails once, then adds
    await b.verify(apiKey);

    expect(second.calls - before).toBe(3);
  });

  it('follows an operator’s change of the limits on the next call (the condition catches stale memory)', async () => {
    const apiKey = await limitedKey({});
    const verifier = createKeyVerifier({ keys: countingStore(), environment: 'test', clock: testClock(T0) });
    expectOk(await verifier.verify(apiKey));

    await setLimits(apiKey, { rate: { limit: 1, windowSeconds: 3600 } });
    const results = [await verifier.verify(apiKey), await verifier.verify(apiKey)];

    expect(results.map((result) => result.ok)).toEqual([true, false]);
    expect(results[1]).toMatchObject({ reason: 'rate_limited' });
  });
});

describe('the per-container refusal memory', () => {
  it('answers a flood of one revoked, unknown or expired key with no database call after the first', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId('flood');
    expectOk(await store.service.createUser({ userId }));
    const revoked = expectOk(await store.service.createKey({ userId }));
    expectOk(await store.service.revokeKey({ userId, keyId: revoked.key.keyId }));
    const expiring = expectOk(
      await store.service.createKey({ userId, expiresAt: '2030-01-01T10:00:40.000Z' }),
    );
    const unknown = expectOk(await keyStoreFor(tables).service.createKey({ userId })).apiKey.replace(
      /.{6}$/,
      '000000',
    );
    const keys = countingStore();
    const clock = testClock(T0);
    clock.advance(20_000); // past the expiry
    const verifier = createKeyVerifier({ keys, environment: 'test', clock });

    for (const [apiKey, reason] of [
      [revoked.apiKey, 'revoked'],
      [expiring.apiKey, 'expired'],
    ] as const) {
      const before = keys.calls;
      const results = await Promise.all(Array.from({ length: 50 }, () => verifier.verify(apiKey)));
      const again = await verifier.verify(apiKey);
      expect(results.every((result) => !result.ok && result.reason === reason)).toBe(true);
      // Remembered with whose key it is, for the authorizer's refusal line.
      expect(again).toMatchObject({ ok: false, reason, keyId: expect.stringMatching(/^key_/) });
      expect(keys.calls - before).toBeLessThanOrEqual(50); // the parallel first wave may each write
      const flood = keys.calls;
      for (let index = 0; index < 100; index += 1) await verifier.verify(apiKey);
      expect(keys.calls).toBe(flood);
    }
    // A malformed key never reaches the store at all (checksum first).
    const before = keys.calls;
    expect(await verifier.verify(unknown)).toEqual({ ok: false, reason: 'malformed' });
    expect(keys.calls).toBe(before);
  });

  it('remembers a spent window until it ends, and never a suspension', async () => {
    const apiKey = await limitedKey({ rate: { limit: 1, windowSeconds: 60 } });
    const keys = countingStore();
    const clock = testClock(T0);
    const verifier = createKeyVerifier({ keys, environment: 'test', clock });
    await verifier.verify(apiKey);
    await verifier.verify(apiKey); // spent: remembered
    const spentAt = keys.calls;
    for (let index = 0; index < 100; index += 1) {
      expect(await verifier.verify(apiKey)).toMatchObject({ reason: 'rate_limited' });
    }
    expect(keys.calls).toBe(spentAt);
    clock.advance(30_000);
    expect((await verifier.verify(apiKey)).ok).toBe(true);

    const store = keyStoreFor(tables);
    const item = await itemOf(apiKey);
    expectOk(await store.service.setUserStatus({ userId: item.user_id, suspended: true }));
    const suspendedAt = keys.calls;
    for (let index = 0; index < 3; index += 1) {
      expect(await verifier.verify(apiKey)).toMatchObject({ ok: false, reason: 'suspended' });
    }
    expect(keys.calls - suspendedAt).toBe(3);
    expectOk(await store.service.setUserStatus({ userId: item.user_id, suspended: false }));
    clock.advance(60_000);
    expect((await verifier.verify(apiKey)).ok).toBe(true);
  });

  it.each([
    ['raises a spent rate limit', { rateLimit: { limit: 5, windowSeconds: 3600 } }],
    ['clears a spent quota', { quota: null }],
  ] as const)(
    'obeys an update that %s within 1 s (a refusal an update can lift is remembered ≤ 1 s)',
    async (_label, update) => {
      const apiKey = await limitedKey(
        'rateLimit' in update
          ? { rate: { limit: 1, windowSeconds: 3600 } }
          : { quota: { limit: 1, period: 'total' } },
      );
      const keys = countingStore();
      const clock = testClock(T0);
      const verifier = createKeyVerifier({ keys, environment: 'test', clock });
      expect((await verifier.verify(apiKey)).ok).toBe(true);
      expect((await verifier.verify(apiKey)).ok).toBe(false); // spent, remembered
      const item = await itemOf(apiKey);
      const store = keyStoreFor(tables, { clock });
      expectOk(await store.service.updateKey({ userId: item.user_id, keyId: item.key_id, ...update }));

      const spentAt = keys.calls;
      clock.advance(500);
      expect((await verifier.verify(apiKey)).ok).toBe(false); // still remembered: no write
      expect(keys.calls).toBe(spentAt);
      clock.advance(500);
      expect((await verifier.verify(apiKey)).ok).toBe(true);
    },
  );

  it('forgets the oldest keys past its bound', async () => {
    const keys = countingStore();
    const verifier = createKeyVerifier({ keys, environment: 'test', clock: testClock(T0), maxRemembered: 2 });
    const store = keyStoreFor(tables);
    const userId = uniqueUserId('bound');
    expectOk(await store.service.createUser({ userId }));
    const revoked: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const created = expectOk(await store.service.createKey({ userId }));
      expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));
      revoked.push(created.apiKey);
      await verifier.verify(created.apiKey);
    }
    const before = keys.calls;

    await verifier.verify(revoked[0] as string); // forgotten: a write again
    await verifier.verify(revoked[2] as string); // remembered

    expect(keys.calls - before).toBe(1);
  });
});

describe('what an admission carries', () => {
  it('gives the scopes and project binding from the written item, and keeps the item under 1 KB', async () => {
    const scopes = {
      providers: ['openai', 'anthropic'],
      models: ['gpt-4o*', 'claude-3-5-sonnet-latest'],
      operations: ['chat', 'embedding'],
    };
    const apiKey = await limitedKey({
      rate: { limit: 100, windowSeconds: 60 },
      quota: { limit: 1_000_000, period: 'month' },
      scopes,
    });
    const verifier = createKeyVerifier({ keys: countingStore(), environment: 'test', clock: testClock(T0) });

    const result = await verifier.verify(apiKey);

    expect(result).toMatchObject({ ok: true, scopes, projectBound: false });
    const item = await itemOf(apiKey);
    expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(1024);
  });
});
