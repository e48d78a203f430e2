import { randomBytes } from 'node:crypto';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../../../shared/adapters/aws-clients.js';
import { USER_ID_INDEX } from '../../../../shared/adapters/dynamodb/tables.js';
import { generateKey, hashKey } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import { UserNotActiveError } from '../../../../shared/domain/keys/ports.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import {
  createKeyServiceFor,
  expectOk,
  keyStoreFor,
  scanApiKeys,
  testClock,
  uniqueUserId,
} from '../../../support/keystore.js';
import { recordingLogger, silentLogger } from '../../../support/logs.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-service');
});
afterAll(async () => tables.drop());

async function userWithKey(store = keyStoreFor(tables), options: { projectId?: string } = {}) {
  const userId = uniqueUserId();
  expectOk(await store.service.createUser({ userId }));
  const created = expectOk(await store.service.createKey({ userId, name: 'ci', ...options }));
  return { userId, apiKey: created.apiKey, key: created.key };
}

async function itemsOf(userId: string): Promise<ApiKeyItem[]> {
  return (await scanApiKeys(tables)).filter((item) => item.user_id === userId);
}

describe('creating and verifying keys', () => {
  it('creates a user and a key, verifies it and counts the use', async () => {
    const service = createKeyServiceFor(tables.doc, tables.names, silentLogger);
    const userId = uniqueUserId();
    expectOk(await service.createUser({ userId }));
    const created = expectOk(await service.createKey({ userId, name: 'ci' }));

    const verified = await service.verify(created.apiKey);

    expect(verified).toEqual({
      ok: true,
      userId,
      keyId: created.key.keyId,
      projectId: 'default',
      projectBound: false,
      limits: {},
    });
    const listed = expectOk(await service.listKeys({ userId, limit: 10 }));
    expect(listed.keys[0]?.usageCount).toBe(1);
  });

  it('stores only the hash, the display start and the SPEC attributes, never the plaintext', async () => {
    const { userId, apiKey, key } = await userWithKey();

    const [item] = await itemsOf(userId);

    expect(item).toEqual({
      key_hash: hashKey(apiKey),
      hash_version: 1,
      key_id: key.keyId,
      user_id: userId,
      project_id: 'default',
      name: 'ci',
      status: 'active',
      start: apiKey.slice(0, 12),
      created_at: key.createdAt,
      usage_count: 0,
    });
    expect(JSON.stringify(item)).not.toContain(apiKey.slice(12));
    expect(key.keyId).toMatch(/^key_[0-9A-Za-z]+$/);
    expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(1024);
  });

  it('takes the project from the create input, else the user default, else "default"', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId, defaultProjectId: 'proj-user' }));

    const explicit = expectOk(await store.service.createKey({ userId, projectId: 'proj-explicit' }));
    const fromUser = expectOk(await store.service.createKey({ userId }));
    const plain = await userWithKey(store);

    expect(explicit.key.projectId).toBe('proj-explicit');
    expect(fromUser.key.projectId).toBe('proj-user');
    expect(plain.key.projectId).toBe('default');
    expect(await store.service.verify(explicit.apiKey)).toMatchObject({ projectId: 'proj-explicit' });
  });

  it('counts 200 concurrent verifications of one key exactly and sets last_used_at', async () => {
    const clock = testClock('2030-01-01T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const { userId, apiKey } = await userWithKey(store);
    // One attempt and a generous timeout: this checks DynamoDB's exactness, not SDK retries
    // (an SDK retry after a slow answer on a loaded machine could count a request twice).
    const doc = createDocumentClient({
      endpoint: tables.endpoint,
      maxAttempts: 1,
      connectionTimeoutMs: 20_000,
      requestTimeoutMs: 20_000,
    });
    const verifier = keyStoreFor({ doc, names: tables.names }, { clock });

    const results = await Promise.all(Array.from({ length: 200 }, () => verifier.service.verify(apiKey)));
    doc.destroy();

    expect(results.every((result) => result.ok)).toBe(true);
    const [item] = await itemsOf(userId);
    expect(item?.usage_count).toBe(200);
    expect(item?.last_used_at).toBe('2030-01-01T00:00:00.000Z');
  });
});

describe('refused keys', () => {
  it('refuses a well-formed key that was never issued as unknown', async () => {
    const unknown = generateKey('test').key;

    expect(await keyStoreFor(tables).service.verify(unknown)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('refuses a malformed key as malformed', async () => {
    expect(await keyStoreFor(tables).service.verify('kg_test_nope')).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses a revoked key on the very next verification and stops counting it', async () => {
    const store = keyStoreFor(tables);
    const { userId, apiKey, key } = await userWithKey(store);
    expect((await store.service.verify(apiKey)).ok).toBe(true);

    expectOk(await store.service.revokeKey({ userId, keyId: key.keyId, reason: 'leaked' }));
    const next = await store.service.verify(apiKey);

    expect(next).toMatchObject({ ok: false, reason: 'revoked' });
    const [item] = await itemsOf(userId);
    expect(item).toMatchObject({ status: 'revoked', revoked_reason: 'leaked', usage_count: 1 });
  });

  it('refuses an expired key once its expires_at has passed', async () => {
    const clock = testClock('2030-01-01T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const { apiKey } = expectOk(
      await store.service.createKey({ userId, expiresAt: '2030-01-01T01:00:00.000Z' }),
    );
    expect((await store.service.verify(apiKey)).ok).toBe(true);

    clock.set('2030-01-01T01:00:00.000Z');

    expect(await store.service.verify(apiKey)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses the keys of a suspended user, and accepts them again after reactivation', async () => {
    const store = keyStoreFor(tables);
    const { userId, apiKey } = await userWithKey(store);

    expectOk(await store.service.setUserStatus({ userId: userId, suspended: true }));
    const whileSuspended = await store.service.verify(apiKey);
    expectOk(await store.service.setUserStatus({ userId: userId, suspended: false }));
    const afterReactivation = await store.service.verify(apiKey);

    expect(whileSuspended).toMatchObject({ ok: false, reason: 'suspended' });
    expect(afterReactivation.ok).toBe(true);
  });

  it('refuses a key created with an expiry that is not in the future', async () => {
    const clock = testClock('2030-01-01T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));

    const past = await store.service.createKey({ userId, expiresAt: '2029-12-31T23:59:59Z' });
    const now = await store.service.createKey({ userId, expiresAt: '2030-01-01T00:00:00Z' });

    expect(past).toMatchObject({ ok: false, error: { code: 'invalid_expiry' } });
    expect(now).toMatchObject({ ok: false, error: { code: 'invalid_expiry' } });
    expect(await itemsOf(userId)).toEqual([]);
  });
});

describe('the foreign key to Users', () => {
  it('refuses a key for a missing user and writes nothing', async () => {
    const userId = uniqueUserId('missing');

    const result = await keyStoreFor(tables).service.createKey({ userId });

    expect(result).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
    expect(await itemsOf(userId)).toEqual([]);
  });

  it('refuses a key for a suspended user and writes nothing', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId('suspended');
    expectOk(await store.service.createUser({ userId }));
    expectOk(await store.service.setUserStatus({ userId: userId, suspended: true }));

    const result = await store.service.createKey({ userId });

    expect(result).toMatchObject({ ok: false, error: { code: 'user_suspended' } });
    expect(await itemsOf(userId)).toEqual([]);
  });

  it('enforces the foreign key inside the create transaction itself, not only in a prior read', async () => {
    const store = keyStoreFor(tables);
    const suspended = uniqueUserId('tx-suspended');
    expectOk(await store.service.createUser({ userId: suspended }));
    expectOk(await store.service.setUserStatus({ userId: suspended, suspended: true }));
    const item = (userId: string): ApiKeyItem => ({
      key_hash: hashKey(`kg_test_${randomBytes(8).toString('hex')}`),
      hash_version: 1,
      key_id: `key_${randomBytes(6).toString('hex')}`,
      user_id: userId,
      project_id: 'default',
      status: 'active',
      start: 'kg_test_Test',
      created_at: new Date().toISOString(),
      usage_count: 0,
    });

    const missing = await store.keys
      .create(item(uniqueUserId('tx-missing')))
      .catch((error: unknown) => error);
    const refusedSuspended = await store.keys.create(item(suspended)).catch((error: unknown) => error);

    expect(missing).toBeInstanceOf(UserNotActiveError);
    expect(missing).toMatchObject({ reason: 'missing' });
    expect(refusedSuspended).toBeInstanceOf(UserNotActiveError);
    expect(refusedSuspended).toMatchObject({ reason: 'suspended' });
    expect((await scanApiKeys(tables)).filter((entry) => entry.start === 'kg_test_Test')).toEqual([]);
  });
});

describe('hash collisions', () => {
  it('retries with a fresh key when the generated hash already exists', async () => {
    const repeated = randomBytes(32);
    const queue = [repeated, repeated, randomBytes(32)];
    let draws = 0;
    const log = recordingLogger();
    const store = keyStoreFor(tables, {
      logger: log.logger,
      random: () => {
        draws += 1;
        return queue.shift() ?? randomBytes(32);
      },
    });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const first = expectOk(await store.service.createKey({ userId }));

    const second = expectOk(await store.service.createKey({ userId }));

    expect(draws).toBe(3);
    expect(second.apiKey).not.toBe(first.apiKey);
    expect(log.records.filter((record) => record.message.includes('collision'))).toHaveLength(1);
    expect(await itemsOf(userId)).toHaveLength(2);
    expect(log.text()).not.toContain(first.apiKey);
  });

  it('gives up with key_generation_failed after maxCreateAttempts when every draw collides', async () => {
    const repeated = randomBytes(32);
    let draws = 0;
    const store = keyStoreFor(tables, {
      maxCreateAttempts: 4,
      random: () => {
        draws += 1;
        return repeated;
      },
    });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    expectOk(await store.service.createKey({ userId }));
    draws = 0;

    const result = await store.service.createKey({ userId });

    expect(result).toMatchObject({ ok: false, error: { code: 'key_generation_failed' } });
    expect(draws).toBe(4);
    expect(await itemsOf(userId)).toHaveLength(1);
  });
});

describe('listing and the user index', () => {
  it('keeps usage_count and last_used_at out of the GSI projection', async () => {
    const { Table } = await tables.raw.send(new DescribeTableCommand({ TableName: tables.names.apiKeys }));

    const index = Table?.GlobalSecondaryIndexes?.find((candidate) => candidate.IndexName === USER_ID_INDEX);

    expect(index?.KeySchema).toEqual([
      { AttributeName: 'user_id', KeyType: 'HASH' },
      { AttributeName: 'created_at', KeyType: 'RANGE' },
    ]);
    expect(index?.Projection?.ProjectionType).not.toBe('ALL');
    expect(index?.Projection?.NonKeyAttributes ?? []).not.toContain('usage_count');
    expect(index?.Projection?.NonKeyAttributes ?? []).not.toContain('last_used_at');
  });

  it('lists the counters from the base table although the index does not hold them', async () => {
    const clock = testClock('2030-02-02T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const { userId, apiKey } = await userWithKey(store);
    await store.service.verify(apiKey);
    await store.service.verify(apiKey);

    const listed = expectOk(await store.service.listKeys({ userId, limit: 10 }));

    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]).toMatchObject({ usageCount: 2, lastUsedAt: '2030-02-02T00:00:00.000Z' });
  });

  it('pages newest first with limit and nextToken until every key was listed once', async () => {
    const clock = testClock('2030-03-03T00:00:00.000Z');
    const store = keyStoreFor(tables, { clock });
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const created: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      clock.advance(1000);
      created.push(expectOk(await store.service.createKey({ userId })).key.keyId);
    }

    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = expectOk(
        await store.service.listKeys({ userId, limit: 2, ...(nextToken ? { nextToken } : {}) }),
      );
      expect(page.keys.length).toBeLessThanOrEqual(2);
      seen.push(...page.keys.map((key) => key.keyId));
      nextToken = page.nextToken ?? undefined;
      pages += 1;
    } while (nextToken && pages < 10);

    expect(seen).toEqual([...created].reverse());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('hands out a nextToken that reveals no key hash (it names the last key by its public id)', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    for (let index = 0; index < 3; index += 1) expectOk(await store.service.createKey({ userId }));
    const hashes = (await scanApiKeys(tables))
      .filter((item) => item.user_id === userId)
      .map((item) => item.key_hash);

    const page = expectOk(await store.service.listKeys({ userId, limit: 1 }));
    const token = page.nextToken ?? '';
    const decoded = Buffer.from(token, 'base64url').toString('utf8');

    expect(token).not.toBe('');
    for (const hash of hashes) {
      expect(token).not.toContain(hash.slice(0, 16));
      expect(decoded).not.toContain(hash.slice(0, 16));
    }
    expect(decoded).toBe(`k1:${page.keys[0]?.keyId}`);
  });

  it("refuses a nextToken that is not one this user's list returned", async () => {
    const store = keyStoreFor(tables);
    const first = await userWithKey(store);
    await store.service.createKey({ userId: first.userId });
    const other = await userWithKey(store);
    const page = expectOk(await store.service.listKeys({ userId: first.userId, limit: 1 }));
    const foreignToken = page.nextToken ?? '';
    const forged = Buffer.from(JSON.stringify({ user_id: other.userId }), 'utf8').toString('base64url');

    const results = await Promise.all([
      store.service.listKeys({ userId: other.userId, limit: 1, nextToken: foreignToken }),
      store.service.listKeys({ userId: other.userId, limit: 1, nextToken: 'not-a-token' }),
      store.service.listKeys({ userId: other.userId, limit: 1, nextToken: forged }),
    ]);

    expect(foreignToken).not.toBe('');
    for (const result of results) {
      expect(result).toMatchObject({ ok: false, error: { code: 'invalid_next_token' } });
    }
  });
});
