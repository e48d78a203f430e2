/**
 * A hot key counted on 16 shard items (SPEC §5 "Hot keys", docs/decisions/0012) as a caller
 * and an operator see it, over real HTTPS on the local stack: keys-admin creates, revokes,
 * suspends and updates it while calls run; the counts, the limits and every change must hold
 * on whichever shard a call is counted. The stack talks to DynamoDB Local through the fault
 * proxy (loopback, forwarding only unless a rule says otherwise), whose records name the item
 * each verify write went to and whether DynamoDB applied it; the shard items themselves are
 * read straight from DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { findShardItems } from '../../shared/adapters/dynamodb/key-shards.js';
import { hashKey } from '../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';
import { type DynamoDbProxy, startDynamoDbProxy } from '../support/dynamodb-proxy.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { CHAT_BODY, callApi, expectEnvelope, type HttpsAnswer, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

const SHARDS = 16;
/** One UTC day: every limited phase of a test stays inside one window (guarded below). */
const WINDOW_SECONDS = 86_400;

let proxy: DynamoDbProxy;
let stack: LocalStack;
let admin: KeysAdminClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  proxy = await startDynamoDbProxy({ target: inject('dynamodbEndpoint') });
  stack = await startTestStack({ dynamodbEndpoint: proxy.endpoint });
  admin = keysAdminClient(stack.lambdaUrl);
  doc = createDocumentClient({ endpoint: inject('dynamodbEndpoint') });
});

afterAll(async () => {
  admin?.close();
  doc?.destroy();
  await stack?.stop();
  await proxy?.close();
});

interface HotKey {
  userId: string;
  keyId: string;
  apiKey: string;
  keyHash: string;
}

async function hotKey(label: string, settings: Record<string, unknown> = {}): Promise<HotKey> {
  const userId = `${label}-${randomUUID().slice(0, 8)}`;
  await admin.expectOk({ action: 'create-user', userId });
  const created = await admin.expectOk({
    action: 'create',
    userId,
    name: 'hot',
    shards: SHARDS,
    ...settings,
  });
  if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
  expect(created.key.shards).toBe(SHARDS);
  return { userId, keyId: created.key.keyId, apiKey: created.apiKey, keyHash: hashKey(created.apiKey) };
}

const shardItems = (key: HotKey): Promise<ApiKeyItem[]> =>
  findShardItems(doc, stack.tableNames.apiKeys, key.keyHash, SHARDS);

const post = (key: HotKey) =>
  callApi(stack, { headers: jsonHeaders(key.apiKey), body: JSON.stringify(CHAT_BODY) });

const burst = (key: HotKey, calls: number) => Promise.all(Array.from({ length: calls }, () => post(key)));

const statuses = (answers: readonly HttpsAnswer[]) => answers.map((answer) => answer.status);
const countOf = (answers: readonly HttpsAnswer[], status: number) =>
  answers.filter((answer) => answer.status === status).length;
const header = (answer: HttpsAnswer, name: string) =>
  answer.headers[name.toLowerCase()] as string | undefined;

/** The verify writes (UpdateItem on a shard item of `key`) the proxy received from record `from` on. */
function shardWritesSince(from: number, key: HotKey) {
  return proxy.records.slice(from).flatMap((record) => {
    const hash = (record.key?.key_hash as { S?: string } | undefined)?.S;
    if (record.operation !== 'UpdateItem' || record.tableName !== stack.tableNames.apiKeys) return [];
    if (!hash?.startsWith(`${key.keyHash}#`)) return [];
    return [{ shard: Number(hash.slice(key.keyHash.length + 1)), applied: record.applied }];
  });
}

/** Delays every shard write's answer, so a flood's calls are all on their way to DynamoDB before one comes back. */
function holdShardAnswers(ms: number): void {
  proxy.setRules([
    {
      action: 'delay',
      ms,
      operation: 'UpdateItem',
      match: (request) =>
        request.tableName === stack.tableNames.apiKeys &&
        ((request.key?.key_hash as { S?: string } | undefined)?.S ?? '').includes('#'),
    },
  ]);
}

/** Waits for the next window when fewer than `ms` are left of this one. */
async function roomInWindow(ms: number): Promise<void> {
  const left = WINDOW_SECONDS * 1000 - (Date.now() % (WINDOW_SECONDS * 1000));
  if (left < ms) await sleep(left + 1000);
}

describe('a key with 16 shards', () => {
  it('admits 100 concurrent calls and counts exactly 100, summed over the shards', {
    timeout: 120_000,
  }, async () => {
    const key = await hotKey('hot-count');
    const from = proxy.records.length;

    const answers = await burst(key, 100);

    expect(statuses(answers)).toEqual(Array(100).fill(200));
    expect((await admin.getKey(key.userId, key.keyId)).usageCount).toBe(100);
    const shards = await shardItems(key);
    expect(shards).toHaveLength(SHARDS);
    expect(shards.reduce((sum, shard) => sum + (shard.usage_count ?? 0), 0)).toBe(100);
    // One applied write per admitted call, each on a shard item.
    const applied = shardWritesSince(from, key).filter((write) => write.applied);
    expect(applied).toHaveLength(100);
    console.log(`(a) shards written: ${new Set(applied.map((write) => write.shard)).size} of ${SHARDS}`);
  });

  it('admits exactly L of 3L concurrent calls against a rate limit L, each shard its slice', {
    timeout: 120_000,
  }, async () => {
    const limit = 48;
    const key = await hotKey('hot-rate', { rateLimit: { limit, windowSeconds: WINDOW_SECONDS } });
    await roomInWindow(60_000);

    const answers = await burst(key, 3 * limit);

    expect(countOf(answers, 200)).toBe(limit);
    expect(countOf(answers, 429)).toBe(2 * limit);
    for (const answer of answers) {
      // The whole limit, not the shard's slice.
      expect(header(answer, 'RateLimit-Limit')).toBe(String(limit));
      if (answer.status === 429) {
        expectEnvelope(answer, 429, 'rate_limited');
        expect(header(answer, 'Retry-After')).toMatch(/^[1-9][0-9]*$/);
      }
    }
    expect((await admin.getKey(key.userId, key.keyId)).usageCount).toBe(limit);
    // 48 over 16 shards is 3 each; the key is spent only when every shard is: all 16 were hit.
    const shards = await shardItems(key);
    expect(shards.map((shard) => shard.usage_count)).toEqual(Array(SHARDS).fill(limit / SHARDS));
  });

  it('refuses with 401 every call started after the revoke answered, while calls run', {
    timeout: 120_000,
  }, async () => {
    const key = await hotKey('hot-revoke');
    const calls: { started: number; answer: HttpsAnswer }[] = [];
    let running = true;
    const workers = Array.from({ length: 8 }, async () => {
      while (running) {
        const started = performance.now();
        calls.push({ started, answer: await post(key) });
      }
    });
    await sleep(1000);

    await admin.expectOk({ action: 'revoke', userId: key.userId, keyId: key.keyId, reason: 'e2e' });
    const revokedAt = performance.now();
    const from = proxy.records.length;
    // Every shard carries the revocation once keys-admin has answered.
    expect((await shardItems(key)).map((shard) => shard.status)).toEqual(Array(SHARDS).fill('revoked'));
    const flood = await burst(key, 100);
    await sleep(300);
    running = false;
    await Promise.all(workers);

    const before = calls.filter((call) => call.started < revokedAt);
    const after = [...calls.filter((call) => call.started > revokedAt).map((call) => call.answer), ...flood];
    const admitted = before.filter((call) => call.answer.status === 200).length;
    expect(admitted).toBeGreaterThan(0);
    for (const answer of after) {
      expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toBe('API key has been revoked.');
    }
    // Whatever reached DynamoDB after the answer (most calls are refused from the container's
    // memory of the revocation, which the calls running during it taught it) was refused.
    const writes = shardWritesSince(from, key);
    expect(writes.filter((write) => write.applied !== false)).toEqual([]);
    expect((await admin.getKey(key.userId, key.keyId)).usageCount).toBe(admitted);
    console.log(
      `(c) ${before.length} calls started before the revoke answered (${admitted} admitted), ` +
        `${after.length} after (all 401; ${writes.length} reached a shard)`,
    );
  });

  it('refuses a revoked key on the shards themselves, where a container that knows them sends the next calls', {
    timeout: 120_000,
  }, async () => {
    const key = await hotKey('hot-revoke-shards');
    // The container learns the key's shards: later calls go straight to them.
    expect(statuses(await burst(key, 32))).toEqual(Array(32).fill(200));

    await admin.expectOk({ action: 'revoke', userId: key.userId, keyId: key.keyId, reason: 'e2e' });
    holdShardAnswers(300);
    const from = proxy.records.length;
    const flood = await burst(key, 100);
    proxy.clearRules();

    for (const answer of flood) {
      expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toBe('API key has been revoked.');
    }
    const writes = shardWritesSince(from, key);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((write) => write.applied !== false)).toEqual([]);
    expect((await admin.getKey(key.userId, key.keyId)).usageCount).toBe(32);
    console.log(
      `(c) ${writes.length} refused shard writes on ${new Set(writes.map((write) => write.shard)).size} shards after the revoke`,
    );
  });

  it('refuses every call of a suspended user on any shard, and admits them again after reactivation', {
    timeout: 120_000,
  }, async () => {
    const key = await hotKey('hot-suspend');
    // The container learns the key's shards: later calls go straight to them.
    expect(statuses(await burst(key, 32))).toEqual(Array(32).fill(200));

    const suspended = await admin.expectOk({ action: 'suspend-user', userId: key.userId });
    expect(suspended).toMatchObject({ complete: true });
    expect((await shardItems(key)).every((shard) => shard.user_suspended !== undefined)).toBe(true);
    holdShardAnswers(300);
    const from = proxy.records.length;
    const refused = await burst(key, 64);
    proxy.clearRules();

    for (const answer of refused) {
      // SPEC §3: a suspended user's key is refused 401 (a suspension is never remembered).
      expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toMatch(/suspended/);
    }
    const writes = shardWritesSince(from, key);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((write) => write.applied !== false)).toEqual([]);

    const reactivated = await admin.expectOk({ action: 'reactivate-user', userId: key.userId });
    expect(reactivated).toMatchObject({ complete: true });
    expect((await shardItems(key)).every((shard) => shard.user_suspended === undefined)).toBe(true);
    const again = await burst(key, 64);

    expect(statuses(again)).toEqual(Array(64).fill(200));
    expect((await admin.getKey(key.userId, key.keyId)).usageCount).toBe(32 + 64);
    console.log(
      `(d) ${writes.length} refused shard writes on ${new Set(writes.map((write) => write.shard)).size} shards while suspended`,
    );
  });

  it('follows an update of its rate limit on every shard: lowered at once, raised within 1 s, exactly', {
    timeout: 120_000,
  }, async () => {
    const rateLimit = (limit: number) => ({ limit, windowSeconds: WINDOW_SECONDS });
    const key = await hotKey('hot-update', { rateLimit: rateLimit(64) });
    await roomInWindow(60_000);
    const update = async (limit: number) => {
      await admin.expectOk({
        action: 'update',
        userId: key.userId,
        keyId: key.keyId,
        rateLimit: rateLimit(limit),
      });
      // Every shard has the new limit, and the slices add up to it, once keys-admin has answered.
      const shards = await shardItems(key);
      expect(shards.map((shard) => shard.key_rate_limit)).toEqual(Array(SHARDS).fill(limit));
      expect(shards.reduce((sum, shard) => sum + (shard.rate_limit ?? 0), 0)).toBe(limit);
    };
    const expectLimited = (answers: readonly HttpsAnswer[], limit: number) => {
      for (const answer of answers) {
        expect(header(answer, 'RateLimit-Limit')).toBe(String(limit));
        if (answer.status === 429) expectEnvelope(answer, 429, 'rate_limited');
      }
    };

    const first = await burst(key, 32);
    expect(countOf(first, 200)).toBe(32);

    // Lowered from 64 to 40 with 32 used: 8 left, whatever this container saw left on the shards.
    await update(40);
    const afterLower = await burst(key, 32);
    expect([countOf(afterLower, 200), countOf(afterLower, 429)]).toEqual([8, 24]);
    expectLimited(afterLower, 40);

    // Raised from a spent 40 to 88: 48 more in this window, on a container that saw every shard spent.
    await update(88);
    await sleep(1000);
    const afterRaise = await burst(key, 64);
    expect([countOf(afterRaise, 200), countOf(afterRaise, 429)]).toEqual([48, 16]);
    expectLimited(afterRaise, 88);

    const metadata = await admin.getKey(key.userId, key.keyId);
    expect(metadata.usageCount).toBe(32 + 8 + 48);
    expect(metadata.rateLimit).toMatchObject({ limit: 88 });
  });
});
