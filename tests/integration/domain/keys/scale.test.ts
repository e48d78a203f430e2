/**
 * The key store at 10,000 keys for one user, on DynamoDB Local (docs/decisions/0006): every
 * key made by the real create transaction, then list, get, revoke, rotate one, rotate all
 * with grace, suspend, and a reactivation interrupted for time and resumed. The steps run in
 * order on the same user; each one starts from the state the previous ones left.
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_ID_INDEX } from '../../../../shared/adapters/dynamodb/tables.js';
import { mapConcurrently } from '../../../../shared/domain/concurrency.js';
import type { KeyMetadata } from '../../../../shared/domain/keys/metadata.js';
import type { UserItem } from '../../../../shared/domain/keys/model.js';
import type { KeyRef } from '../../../../shared/domain/keys/ports.js';
import { STAMPING_STOP_MARGIN_MS } from '../../../../shared/domain/keys/suspension.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import {
  expectOk,
  keyStoreFor,
  scanApiKeys,
  type TestKeyStore,
  testClock,
  uniqueUserId,
} from '../../../support/keystore.js';

const KEY_COUNT = 10_000;
const CREATES_IN_FLIGHT = 32;
/**
 * The first keys are created a few at a time: a cold DynamoDB Local (JVM not yet compiled)
 * answers slowly, and a full load at once can outlast the client's 3 s request timeout.
 */
const WARM_UP = { keys: 200, inFlight: 4 };
/**
 * DynamoDB Local handles writes about one at a time (~400 item writes a second on 2 vCPUs,
 * whatever the parallelism): the 10,000 create transactions take ~2.5 min there, each bulk
 * step (rotate all, suspend, reactivate) 25-40 s.
 */
const CREATE_TIMEOUT_MS = 480_000;
const STEP_TIMEOUT_MS = 180_000;
const HOUR_MS = 60 * 60 * 1000;
const START = '2030-01-01T00:00:00.000Z';
/** A few keys expire before the rotation of all keys, which must not retire them. */
const SHORT_EXPIRY = new Date(Date.parse(START) + HOUR_MS).toISOString();
const LONG_EXPIRY = new Date(Date.parse(START) + 30 * 24 * HOUR_MS).toISOString();

interface CreateInput {
  name?: string;
  projectId?: string;
  expiresAt?: string;
}

interface Issued {
  input: CreateInput;
  apiKey: string;
  key: KeyMetadata;
}

/** Names, explicit projects and expiries, spread over the keys. */
function inputFor(index: number): CreateInput {
  return {
    ...(index % 7 === 0 ? {} : { name: `key-${index}` }),
    ...(index % 5 === 0 ? { projectId: `proj-${index % 3}` } : {}),
    ...(index % 500 === 250
      ? { expiresAt: SHORT_EXPIRY }
      : index % 10 === 3
        ? { expiresAt: LONG_EXPIRY }
        : {}),
  };
}

const clock = testClock(START);
/** While the keys are created, every reading of the clock moves it on 1 ms: each key gets its own created_at. */
let ticking = false;
const storeClock = () => {
  if (ticking) clock.advance(1);
  return clock();
};

let tables: TestTables;
let store: TestKeyStore;
const userId = uniqueUserId('scale');

/** The created keys, oldest first. */
let byAge: Issued[] = [];
/** Every key of the user (created, and issued by the rotations), by key id. */
const everyKey = new Map<string, Issued>();
/** Key ids whose status is revoked. */
const revoked = new Set<string>();
let rotatedOne: (Issued & { old: Issued }) | undefined;
let rotatedAll: Issued | undefined;

beforeAll(async () => {
  tables = await createTestTables('keys-scale');
  store = keyStoreFor(tables, { clock: storeClock });
});
afterAll(async () => tables?.drop());

/** Items a Query matches, counted page by page. */
async function countQuery(input: Omit<QueryCommandInput, 'Select' | 'ExclusiveStartKey'>): Promise<number> {
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await tables.doc.send(
      new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: startKey }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return count;
}

/** The user's keys as counted by its references in UserKeys and by its entries in the user index. */
async function keyCounts(): Promise<{ refs: number; index: number }> {
  const query = { KeyConditionExpression: 'user_id = :user', ExpressionAttributeValues: { ':user': userId } };
  const [refs, index] = await Promise.all([
    countQuery({ TableName: tables.names.userKeys, ConsistentRead: true, ...query }),
    countQuery({ TableName: tables.names.apiKeys, IndexName: USER_ID_INDEX, ...query }),
  ]);
  return { refs, index };
}

/** Every reference of the user in UserKeys, in key id order. */
async function allRefs(): Promise<KeyRef[]> {
  const refs: KeyRef[] = [];
  let after: string | undefined;
  do {
    const page = await store.keys.listRefs(userId, 1000, after);
    refs.push(...page.refs);
    after = page.lastKeyId;
  } while (after);
  return refs;
}

/** Every page of list at one page size: the keys in the order listed, and each nextToken returned. */
async function listAll(limit: number): Promise<{ keys: KeyMetadata[]; tokens: string[]; pages: number }> {
  const keys: KeyMetadata[] = [];
  const tokens: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  for (;;) {
    const page = expectOk(
      await store.service.listKeys({ userId, limit, ...(nextToken ? { nextToken } : {}) }),
    );
    pages += 1;
    expect(page.keys.length).toBeLessThanOrEqual(limit);
    keys.push(...page.keys);
    if (page.nextToken === null) break;
    nextToken = page.nextToken;
    tokens.push(nextToken);
    // The token names the page's last key by its public id, and nothing else.
    expect(Buffer.from(nextToken, 'base64url').toString('utf8')).toBe(`k1:${page.keys.at(-1)?.keyId}`);
  }
  return { keys, tokens, pages };
}

const verifyAll = (apiKeys: readonly string[]) =>
  Promise.all(apiKeys.map((apiKey) => store.service.verify(apiKey)));

/** About `count` keys spread evenly over `from`: verification is sampled, not run on every key. */
function sample(from: readonly Issued[], count: number): Issued[] {
  const step = Math.max(1, Math.floor(from.length / count));
  return from.filter((_, position) => position % step === 0).slice(0, count);
}

const notRevoked = (entry: Issued) => !revoked.has(entry.key.keyId);
const isShortLived = (entry: Issued) => entry.input.expiresAt === SHORT_EXPIRY;
/** Keys whose status is active (expired or within a grace period or not): the ones a status change stamps. */
const statusActiveCount = () => everyKey.size - revoked.size;

describe(`one user with ${KEY_COUNT.toLocaleString('en')} keys`, () => {
  it(
    'creates every key without growing the user item, each with its reference in UserKeys',
    async () => {
      expectOk(await store.service.createUser({ userId, defaultProjectId: 'proj-default' }));
      const userBefore = await store.users.find(userId);

      const create = async (index: number) => ({
        index,
        result: await store.service.createKey({ userId, ...inputFor(index) }),
      });
      const indexes = Array.from({ length: KEY_COUNT }, (_, index) => index);
      ticking = true;
      const results = [
        ...(await mapConcurrently(indexes.slice(0, WARM_UP.keys), WARM_UP.inFlight, create)),
        ...(await mapConcurrently(indexes.slice(WARM_UP.keys), CREATES_IN_FLIGHT, create)),
      ];
      ticking = false;
      clock.advance(1000);

      expect(results.flatMap(({ result }) => (result.ok ? [] : [result]))).toEqual([]);
      byAge = results
        .flatMap(({ index, result }) =>
          result.ok ? [{ input: inputFor(index), apiKey: result.apiKey, key: result.key }] : [],
        )
        .sort((a, b) => a.key.createdAt.localeCompare(b.key.createdAt));
      for (const entry of byAge) everyKey.set(entry.key.keyId, entry);
      expect(everyKey.size).toBe(KEY_COUNT);
      expect(new Set(byAge.map((entry) => entry.key.createdAt)).size).toBe(KEY_COUNT);

      // The create transaction only checks the user: its item is exactly as it was.
      const userAfter = await store.users.find(userId);
      expect(userAfter).toEqual(userBefore);
      expect(Object.keys(userAfter ?? {}).sort()).toEqual(Object.keys(userBefore ?? {}).sort());
      expect((await allRefs()).map((ref) => ref.keyId)).toEqual([...everyKey.keys()].sort());
      expect(await keyCounts()).toEqual({ refs: KEY_COUNT, index: KEY_COUNT });
    },
    CREATE_TIMEOUT_MS,
  );

  it(
    'lists every key exactly once, newest first, over pages whose tokens hold no key hash',
    async () => {
      const hashes = (await allRefs()).map((ref) => ref.keyHash);
      expect(new Set(hashes).size).toBe(KEY_COUNT);
      const newestFirst = [...byAge].reverse();

      const [even, uneven] = await Promise.all([listAll(1000), listAll(999)]);

      // Nothing has used or changed a key yet: the listed metadata is the created metadata.
      expect(even.keys).toEqual(newestFirst.map((entry) => entry.key));
      expect(uneven.keys.map((key) => key.keyId)).toEqual(newestFirst.map((entry) => entry.key.keyId));
      for (const [listed, limit] of [
        [even, 1000],
        [uneven, 999],
      ] as const) {
        const outOfOrder = listed.keys.filter(
          (key, position) => position > 0 && (listed.keys[position - 1]?.createdAt ?? '') < key.createdAt,
        );
        expect(outOfOrder).toEqual([]);
        // A full last page may be followed by an empty one (DynamoDB's LastEvaluatedKey at the limit).
        expect(listed.pages).toBeGreaterThanOrEqual(Math.ceil(KEY_COUNT / limit));
        expect(listed.pages).toBeLessThanOrEqual(Math.ceil(KEY_COUNT / limit) + 1);
        const leaking = listed.tokens.filter((token) => {
          const decoded = Buffer.from(token, 'base64url').toString('utf8');
          return hashes.some((hash) => token.includes(hash) || decoded.includes(hash));
        });
        expect(leaking).toEqual([]);
      }
    },
    STEP_TIMEOUT_MS,
  );

  it('gets the oldest, a middle and the newest key with their metadata', async () => {
    for (const entry of [byAge[0], byAge[KEY_COUNT / 2], byAge[KEY_COUNT - 1]]) {
      const answer = expectOk(await store.service.getKey({ userId, keyId: entry?.key.keyId ?? '' }));
      expect(answer.key).toEqual(entry?.key);
    }
  });

  it('revokes one key: it is refused, the others still verify', async () => {
    const target = byAge[1234] as Issued;

    const answer = expectOk(await store.service.revokeKey({ userId, keyId: target.key.keyId }));
    revoked.add(target.key.keyId);

    expect(answer.key).toMatchObject({ keyId: target.key.keyId, status: 'revoked' });
    expect(await store.service.verify(target.apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
    const others = sample(byAge.filter(notRevoked), 50);
    expect(await verifyAll(others.map((entry) => entry.apiKey))).toEqual(
      others.map((entry) => ({
        ok: true,
        userId,
        keyId: entry.key.keyId,
        projectId: entry.key.projectId,
        projectBound: entry.key.projectBound,
        limits: {},
      })),
    );
  });

  it('rotates one key by id: the new key inherits name and bound project, the old one is refused', async () => {
    clock.advance(1000);
    const old = byAge.find(
      (entry, position) =>
        position > KEY_COUNT / 2 && entry.input.name && entry.input.projectId && !entry.input.expiresAt,
    ) as Issued;
    expect(old.key.projectBound).toBe(true);

    const answer = expectOk(await store.service.rotate({ userId, keyId: old.key.keyId }));
    rotatedOne = { input: {}, apiKey: answer.apiKey, key: answer.key, old };
    everyKey.set(answer.key.keyId, rotatedOne);
    revoked.add(old.key.keyId);

    expect(answer.retired.map((key) => [key.keyId, key.status])).toEqual([[old.key.keyId, 'revoked']]);
    expect(answer.key).toMatchObject({
      name: old.input.name,
      projectId: old.input.projectId,
      projectBound: true,
      status: 'active',
    });
    expect(await store.service.verify(old.apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await store.service.verify(answer.apiKey)).toEqual({
      ok: true,
      userId,
      keyId: answer.key.keyId,
      projectId: old.input.projectId,
      projectBound: true,
      limits: {},
    });
    expect(expectOk(await store.service.getKey({ userId, keyId: old.key.keyId })).key.status).toBe('revoked');
    expect(await keyCounts()).toEqual({ refs: KEY_COUNT + 1, index: KEY_COUNT + 1 });
    const newest = expectOk(await store.service.listKeys({ userId, limit: 1 }));
    expect(newest.keys.map((key) => key.keyId)).toEqual([answer.key.keyId]);
  });

  it(
    'rotates all keys with grace: every active key retired once, old keys working until the grace ends',
    async () => {
      // The short-lived keys have expired: nothing left to retire there.
      clock.advance(2 * HOUR_MS);
      const shortLived = byAge.filter(isShortLived);
      expect(shortLived).toHaveLength(KEY_COUNT / 500);
      expect(await store.service.verify(shortLived[0]?.apiKey)).toMatchObject({
        ok: false,
        reason: 'expired',
      });
      const retirable = [...everyKey.values()].filter((entry) => notRevoked(entry) && !isShortLived(entry));
      expect(retirable).toHaveLength(KEY_COUNT - 2 - shortLived.length + 1);

      const answer = expectOk(await store.service.rotate({ userId, graceSeconds: 3600 }));
      const graceEnd = new Date(clock().getTime() + HOUR_MS).toISOString();
      rotatedAll = { input: {}, apiKey: answer.apiKey, key: answer.key };
      everyKey.set(answer.key.keyId, rotatedAll);

      const retiredIds = answer.retired.map((key) => key.keyId);
      expect(new Set(retiredIds).size).toBe(retiredIds.length);
      expect(retiredIds.sort()).toEqual(retirable.map((entry) => entry.key.keyId).sort());
      expect(answer.retired.filter((key) => key.expiresAt !== graceEnd || key.status !== 'active')).toEqual(
        [],
      );
      // Inherited from the newest active key: the one the rotation by id issued.
      expect(answer.key).toMatchObject({
        name: rotatedOne?.key.name,
        projectId: rotatedOne?.key.projectId,
        projectBound: true,
        expiresAt: null,
        status: 'active',
      });
      expect(await keyCounts()).toEqual({ refs: KEY_COUNT + 2, index: KEY_COUNT + 2 });

      const old = [rotatedOne as Issued, ...sample(retirable, 20)].map((entry) => entry.apiKey);
      expect(await store.service.verify(answer.apiKey)).toMatchObject({ ok: true, keyId: answer.key.keyId });
      clock.advance(HOUR_MS - 1000);
      expect((await verifyAll(old)).map((result) => result.ok)).toEqual(old.map(() => true));
      clock.advance(1000);
      expect(await verifyAll(old)).toMatchObject(old.map(() => ({ ok: false, reason: 'expired' })));
      expect(await store.service.verify(answer.apiKey)).toMatchObject({ ok: true, keyId: answer.key.keyId });
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'suspends: every key whose status is active (expired ones too) is stamped and refused',
    async () => {
      // 10,002 keys, 2 revoked: the rest are active by status, whether expired, in grace or current.
      expect(statusActiveCount()).toBe(KEY_COUNT);

      const answer = expectOk(await store.service.setUserStatus({ userId, suspended: true }));

      expect(answer).toMatchObject({
        complete: true,
        keysUpdated: statusActiveCount(),
        user: { status: 'suspended' },
      });
      const user = (await store.users.find(userId)) as UserItem;
      expect(user.keys_stamped_version).toBe(user.status_version);
      expect(user.keys_stamped_through).toBeUndefined();
      const sampled = [
        rotatedAll as Issued,
        rotatedOne as Issued,
        byAge.find(isShortLived) as Issued,
        ...sample(byAge.filter(notRevoked), 10),
      ].map((entry) => entry.apiKey);
      // A container that met the expired keys before remembers them as expired (a refusal either
      // way); a fresh one reads the stamp, which comes first.
      const freshContainer = keyStoreFor(tables, { clock }).service;
      expect(await Promise.all(sampled.map((apiKey) => freshContainer.verify(apiKey)))).toMatchObject(
        sampled.map(() => ({ ok: false, reason: 'suspended', userId })),
      );
      expect(await store.service.verify(rotatedOne?.old.apiKey)).toMatchObject({
        ok: false,
        reason: 'revoked',
      });
      expect(await store.service.createKey({ userId })).toMatchObject({
        ok: false,
        error: { code: 'user_suspended' },
      });
      expect(await store.service.rotate({ userId })).toMatchObject({
        ok: false,
        error: { code: 'user_suspended' },
      });
      expect(await keyCounts()).toEqual({ refs: KEY_COUNT + 2, index: KEY_COUNT + 2 });
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'reactivates in parts when time runs short: a repeat resumes, and each key is stamped once',
    async () => {
      const pageSize = 500;
      const fullPages = 4;
      const resumable = keyStoreFor(tables, { clock: storeClock, stampPageSize: pageSize });
      let calls = 0;
      const timeLeftMs = () => {
        calls += 1;
        return calls <= fullPages ? 60_000 : STAMPING_STOP_MARGIN_MS - 1;
      };
      // The first call stamps the first pages of references, in key id order; revoked keys are not written.
      const prefix = [...everyKey.keys()].sort().slice(0, fullPages * pageSize);
      const stampedThrough = prefix.at(-1) ?? '';
      const activeInPrefix = prefix.filter((keyId) => !revoked.has(keyId)).length;

      const first = expectOk(await resumable.service.setUserStatus({ userId, suspended: false, timeLeftMs }));

      expect(first).toMatchObject({
        complete: false,
        keysUpdated: activeInPrefix,
        user: { status: 'active' },
      });
      const paused = (await store.users.find(userId)) as UserItem;
      expect(paused).toMatchObject({ status: 'active', keys_stamped_through: stampedThrough });
      expect(paused.keys_stamped_version).toBeLessThan(paused.status_version ?? 0);
      // An interrupted reactivation admits no more than before: keys past the prefix still say suspended.
      const oldById = byAge.filter(notRevoked).sort((a, b) => a.key.keyId.localeCompare(b.key.keyId));
      expect(await store.service.verify(oldById[0]?.apiKey)).toMatchObject({ ok: false, reason: 'expired' });
      expect(await store.service.verify(oldById.at(-1)?.apiKey)).toMatchObject({
        ok: false,
        reason: 'suspended',
      });

      const second = expectOk(await resumable.service.setUserStatus({ userId, suspended: false }));

      expect(second).toMatchObject({ complete: true, keysUpdated: statusActiveCount() - activeInPrefix });
      expect(first.keysUpdated + second.keysUpdated).toBe(statusActiveCount());
      expect(expectOk(await resumable.service.setUserStatus({ userId, suspended: false }))).toMatchObject({
        complete: true,
        keysUpdated: 0,
      });
      const user = (await store.users.find(userId)) as UserItem;
      expect(user.keys_stamped_version).toBe(user.status_version);
      expect(user.keys_stamped_through).toBeUndefined();
    },
    STEP_TIMEOUT_MS,
  );

  it('after reactivation: the new key verifies, old keys are refused for their own reasons, create works', async () => {
    const newest = rotatedAll as Issued;
    expect(await store.service.verify(newest.apiKey)).toMatchObject({ ok: true, keyId: newest.key.keyId });
    // No key is left marked suspended: the old ones are refused only as expired (or revoked).
    const old = sample(byAge.filter(notRevoked), 20).map((entry) => entry.apiKey);
    expect(await verifyAll(old)).toMatchObject(old.map(() => ({ ok: false, reason: 'expired' })));
    expect(await store.service.verify(rotatedOne?.apiKey)).toMatchObject({ ok: false, reason: 'expired' });
    expect(await store.service.verify(rotatedOne?.old.apiKey)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });

    const fresh = expectOk(await store.service.createKey({ userId, name: 'after-reactivation' }));

    expect(await store.service.verify(fresh.apiKey)).toMatchObject({ ok: true, keyId: fresh.key.keyId });
    expect(await keyCounts()).toEqual({ refs: KEY_COUNT + 3, index: KEY_COUNT + 3 });
  });

  it(
    'keeps every item small: the user item has only its fixed attributes, each key item is under 1 KB',
    async () => {
      const user = (await store.users.find(userId)) as UserItem;
      expect(Object.keys(user).sort()).toEqual([
        'created_at',
        'default_project_id',
        'keys_stamped_version',
        'status',
        'status_version',
        'user_id',
      ]);
      const items = (await scanApiKeys(tables)).filter((item) => item.user_id === userId);
      expect(items).toHaveLength(KEY_COUNT + 3);
      const largest = Math.max(...items.map((item) => Buffer.byteLength(JSON.stringify(item))));
      expect(largest).toBeLessThan(1024);
    },
    STEP_TIMEOUT_MS,
  );
});
