import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyMetadata } from '../../../../shared/domain/keys/metadata.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import {
  expectOk,
  keyStoreFor,
  scanApiKeys,
  type TestClock,
  testClock,
  uniqueUserId,
} from '../../../support/keystore.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-rotate');
});
afterAll(async () => tables.drop());

const HOUR = 60 * 60 * 1000;

async function userWithKeys(count: number, clock: TestClock = testClock('2030-01-01T00:00:00.000Z')) {
  const store = keyStoreFor(tables, { clock });
  const userId = uniqueUserId();
  expectOk(await store.service.createUser({ userId, defaultProjectId: 'proj-default' }));
  const keys: { apiKey: string; key: KeyMetadata }[] = [];
  for (let index = 0; index < count; index += 1) {
    clock.advance(1000);
    const created = expectOk(await store.service.createKey({ userId, name: `key-${index}` }));
    keys.push({ apiKey: created.apiKey, key: created.key });
  }
  return { store, clock, userId, keys };
}

async function activeKeyIds(userId: string): Promise<string[]> {
  return (await scanApiKeys(tables))
    .filter((item) => item.user_id === userId && item.status === 'active' && !item.rotated_at)
    .map((item) => item.key_id)
    .sort();
}

describe('rotate with graceSeconds 0', () => {
  it('revokes every active key now and issues one new key that works', async () => {
    const { store, userId, keys } = await userWithKeys(2);

    const rotated = expectOk(await store.service.rotate({ userId, graceSeconds: 0 }));

    expect(rotated.retired.map((key) => key.keyId).sort()).toEqual(keys.map(({ key }) => key.keyId).sort());
    expect(rotated.retired.every((key) => key.status === 'revoked' && key.revokedAt !== null)).toBe(true);
    for (const { apiKey } of keys) {
      expect(await store.service.verify(apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
    }
    expect(await store.service.verify(rotated.apiKey)).toMatchObject({ ok: true, keyId: rotated.key.keyId });
    expect(await activeKeyIds(userId)).toEqual([rotated.key.keyId]);
  });

  it('revokes now when graceSeconds is omitted', async () => {
    const { store, userId, keys } = await userWithKeys(1);

    const rotated = expectOk(await store.service.rotate({ userId }));

    expect(rotated.retired).toHaveLength(1);
    expect(await store.service.verify(keys[0]?.apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
  });
});

describe('rotate with a grace period', () => {
  it('keeps the old keys verifying until the grace period ends, then refuses them', async () => {
    const { store, clock, userId, keys } = await userWithKeys(2);

    const rotated = expectOk(await store.service.rotate({ userId, graceSeconds: 3600 }));
    const graceEnd = new Date(clock().getTime() + HOUR).toISOString();

    expect(rotated.retired.map((key) => key.expiresAt)).toEqual([graceEnd, graceEnd]);
    clock.advance(HOUR - 1000);
    for (const { apiKey } of keys) expect((await store.service.verify(apiKey)).ok).toBe(true);
    clock.advance(1000);
    for (const { apiKey } of keys) {
      expect(await store.service.verify(apiKey)).toMatchObject({ ok: false, reason: 'expired' });
    }
    expect((await store.service.verify(rotated.apiKey)).ok).toBe(true);
    expect(await activeKeyIds(userId)).toEqual([rotated.key.keyId]);
  });

  it('never extends an old key that already expires before the grace period ends', async () => {
    const clock = testClock('2030-01-01T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const soon = '2030-01-01T00:10:00.000Z';
    expectOk(await store.service.createKey({ userId, expiresAt: soon }));

    const rotated = expectOk(await store.service.rotate({ userId, graceSeconds: 3600 }));

    expect(rotated.retired[0]?.expiresAt).toBe(soon);
  });

  it('does not retire a key twice: a second rotation skips keys already in their grace period', async () => {
    const { store, userId } = await userWithKeys(1);
    const first = expectOk(await store.service.rotate({ userId, graceSeconds: 600 }));

    const second = expectOk(await store.service.rotate({ userId, graceSeconds: 600 }));

    expect(second.retired.map((key) => key.keyId)).toEqual([first.key.keyId]);
  });
});

describe('rotate with keyId', () => {
  it('rotates only that key and keeps its project and name', async () => {
    const { store, userId, keys } = await userWithKeys(2);
    const [target, bystander] = keys;

    const rotated = expectOk(await store.service.rotate({ userId, keyId: target?.key.keyId }));

    expect(rotated.retired.map((key) => key.keyId)).toEqual([target?.key.keyId]);
    expect(rotated.key).toMatchObject({ name: 'key-0', projectId: 'proj-default' });
    expect(await store.service.verify(target?.apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await store.service.verify(bystander?.apiKey)).ok).toBe(true);
    expect(await activeKeyIds(userId)).toEqual([bystander?.key.keyId, rotated.key.keyId].sort());
  });

  it('refuses to rotate a key that is not active and issues nothing', async () => {
    const { store, userId, keys } = await userWithKeys(1);
    const keyId = keys[0]?.key.keyId ?? '';
    expectOk(await store.service.revokeKey({ userId, keyId }));

    const result = await store.service.rotate({ userId, keyId });

    expect(result).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    expect((await scanApiKeys(tables)).filter((item) => item.user_id === userId)).toHaveLength(1);
  });

  it('refuses to rotate an expired key', async () => {
    const clock = testClock('2030-01-01T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const { key } = expectOk(await store.service.createKey({ userId, expiresAt: '2030-01-01T00:01:00Z' }));
    clock.advance(HOUR);

    const result = await store.service.rotate({ userId, keyId: key.keyId });

    expect(result).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
  });

  it('refuses a keyId the user does not have', async () => {
    const { store, userId } = await userWithKeys(1);
    const other = await userWithKeys(1);

    const result = await store.service.rotate({ userId, keyId: other.keys[0]?.key.keyId });

    expect(result).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
  });
});

describe('rotate edge cases', () => {
  it('issues a key with retired [] when the user has no active key', async () => {
    const { store, userId } = await userWithKeys(0);

    const rotated = expectOk(await store.service.rotate({ userId }));

    expect(rotated.retired).toEqual([]);
    expect(rotated.key.projectId).toBe('proj-default');
    expect((await store.service.verify(rotated.apiKey)).ok).toBe(true);
  });

  it('refuses to rotate for a missing or suspended user', async () => {
    const { store, userId } = await userWithKeys(1);
    expectOk(await store.service.setUserStatus({ userId: userId, suspended: true }));

    const suspended = await store.service.rotate({ userId });
    const missing = await store.service.rotate({ userId: uniqueUserId('nobody') });

    expect(suspended).toMatchObject({ ok: false, error: { code: 'user_suspended' } });
    expect(missing).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
  });
});

describe('concurrent rotations', () => {
  it('lets exactly one of several parallel rotations of the same keyId succeed', async () => {
    const { store, userId, keys } = await userWithKeys(1);
    const keyId = keys[0]?.key.keyId ?? '';

    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.service.rotate({ userId, keyId })),
    );

    const winners = results.filter((result) => result.ok);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((result) => !result.ok)) {
      expect(loser).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    }
    const items = (await scanApiKeys(tables)).filter((item) => item.user_id === userId);
    expect(items).toHaveLength(2);
    expect(await activeKeyIds(userId)).toHaveLength(1);
  });

  it('retires every old key exactly once and issues exactly one new key per successful parallel rotation', async () => {
    const { store, userId, keys } = await userWithKeys(3);
    const oldIds = keys.map(({ key }) => key.keyId);

    const results = await Promise.all(Array.from({ length: 5 }, () => store.service.rotate({ userId })));

    const successes = results.flatMap((result) => (result.ok ? [result] : []));
    expect(successes).toHaveLength(5);
    const newIds = successes.map((result) => result.key.keyId);
    expect(new Set(newIds).size).toBe(5);
    const retiredIds = successes.flatMap((result) => result.retired.map((key) => key.keyId));
    expect(new Set(retiredIds).size).toBe(retiredIds.length);
    for (const oldId of oldIds) expect(retiredIds.filter((id) => id === oldId)).toHaveLength(1);
    const items = (await scanApiKeys(tables)).filter((item) => item.user_id === userId);
    expect(items).toHaveLength(3 + 5);
    const active = await activeKeyIds(userId);
    expect(active.length).toBeGreaterThanOrEqual(1);
    expect(active.every((id) => newIds.includes(id))).toBe(true);
    // Every new key is either still active or was retired (once) by a later rotation.
    for (const id of newIds) {
      expect(Number(active.includes(id)) + retiredIds.filter((retired) => retired === id).length).toBe(1);
    }
  });
});
