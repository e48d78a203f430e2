/**
 * keys-admin `usage` on DynamoDB Local, after real verifications: the keys-admin function as
 * Lambda calls it, and the verifier the authorizer runs (`createKeyVerifier` on the DynamoDB
 * verification store, wired as functions/authorizer/handler.ts wires it). What `usage` shows —
 * the window used, what is left, why the next call is refused and until when — is checked
 * against what that verifier then answers. Pages as `list` pages, one key by id, refusals.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoKeyVerificationStore } from '../../../shared/adapters/dynamodb/key-verification-store.js';
import { hashKey } from '../../../shared/domain/keys/format.js';
import type { KeyMetadata, UserView } from '../../../shared/domain/keys/metadata.js';
import type { KeyUsage } from '../../../shared/domain/keys/usage.js';
import { createKeyVerifier, type KeyVerifier } from '../../../shared/domain/keys/verify.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { type KeysAdminHandler, loadKeysAdminHandler } from '../../support/keys-admin-handler.js';
import { expectOk, keyStoreFor, testClock, uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { captureOutput } from '../../support/logs.js';

interface Answer {
  ok: boolean;
  error?: { code: string; message: string };
  [field: string]: unknown;
}
interface UsageAnswer {
  ok: true;
  user: UserView;
  usage: KeyUsage[];
  nextToken: string | null;
}

const USAGE_FIELDS = [
  'budget',
  'keyId',
  'lastUsedAt',
  'name',
  'projectId',
  'quota',
  'rateLimit',
  'refusing',
  'shards',
  'start',
  'status',
  'usageCount',
];

let tables: TestTables;
let handler: KeysAdminHandler;
/** One authorizer container's verifier. */
let verifier: KeyVerifier;

beforeAll(async () => {
  tables = await createTestTables('keys-admin-usage');
  handler = await loadKeysAdminHandler(tables);
  verifier = createKeyVerifier({
    keys: new DynamoKeyVerificationStore(tables.doc, tables.names.apiKeys),
    environment: 'test',
  });
});
afterAll(async () => tables.drop());

let logs: ReturnType<typeof captureOutput> | undefined;

async function invoke(event: unknown): Promise<Answer> {
  logs = captureOutput();
  try {
    return (await handler(event, lambdaContext())) as Answer;
  } finally {
    logs.restore();
  }
}

const auditLines = () => (logs?.jsonLines() ?? []).filter((line) => line.message === 'audit');

async function usageOf(userId: string, fields: Record<string, unknown> = {}): Promise<UsageAnswer> {
  const answer = await invoke({ action: 'usage', userId, ...fields });
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return answer as unknown as UsageAnswer;
}

async function newUser(): Promise<string> {
  const userId = uniqueUserId('usage');
  expect((await invoke({ action: 'create-user', userId })).ok).toBe(true);
  return userId;
}

async function newKey(userId: string, extra: Record<string, unknown> = {}) {
  const answer = await invoke({ action: 'create', userId, ...extra });
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return { apiKey: answer.apiKey as string, keyId: (answer.key as KeyMetadata).keyId };
}

/** Waits, if needed, until the current fixed window has `needMs` left, so a test's calls share one window. */
async function roomInWindow(windowSeconds: number, needMs: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

describe('usage after real verifications', () => {
  it('shows a rate limit of 3/60 used 3 times: used 3, none left, refused until the window ends', async () => {
    const userId = await newUser();
    const { apiKey, keyId } = await newKey(userId, {
      name: 'agent',
      rateLimit: { limit: 3, windowSeconds: 60 },
    });
    await roomInWindow(60, 10_000);
    const windowStart = Math.floor(Date.now() / 60_000) * 60;

    const admitted = [
      await verifier.verify(apiKey),
      await verifier.verify(apiKey),
      await verifier.verify(apiKey),
    ];
    const { user, usage, nextToken } = await usageOf(userId);
    const fourth = await verifier.verify(apiKey);

    expect(admitted.map((result) => result.ok)).toEqual([true, true, true]);
    expect(user).toMatchObject({ userId, status: 'active' });
    expect(nextToken).toBeNull();
    expect(usage).toEqual([
      {
        keyId,
        name: 'agent',
        status: 'active',
        start: apiKey.slice(0, 12),
        projectId: 'default',
        usageCount: 3,
        lastUsedAt: expect.any(String),
        rateLimit: {
          limit: 3,
          windowSeconds: 60,
          used: 3,
          remaining: 0,
          windowStart: iso(windowStart),
          resetsAt: iso(windowStart + 60),
        },
        quota: null,
        budget: null,
        refusing: { reason: 'rate_limited', until: iso(windowStart + 60) },
        shards: 1,
      },
    ]);
    // The verifier refuses the next call for the same reason, until the same instant.
    expect(fourth).toMatchObject({ ok: false, reason: 'rate_limited' });
    const retryAfter = (fourth as { retryAfterSeconds?: number }).retryAfterSeconds ?? 0;
    expect(Math.abs(Date.now() + retryAfter * 1000 - (windowStart + 60) * 1000)).toBeLessThan(2_000);
  });

  it('shows a spent monthly quota refused until the month ends, and a spent total quota for good', async () => {
    const userId = await newUser();
    const monthly = await newKey(userId, { name: 'monthly', quota: { limit: 2, period: 'month' } });
    const lifetime = await newKey(userId, { name: 'lifetime', quota: { limit: 1, period: 'total' } });
    for (const apiKey of [monthly.apiKey, monthly.apiKey, lifetime.apiKey]) {
      expect((await verifier.verify(apiKey)).ok).toBe(true);
    }
    const now = new Date();
    const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();

    const { usage } = await usageOf(userId);

    const byName = Object.fromEntries(usage.map((key) => [key.name, key]));
    expect(byName.monthly).toMatchObject({
      usageCount: 2,
      rateLimit: null,
      quota: { limit: 2, period: 'month', used: 2, resetsAt: monthEnd },
      refusing: { reason: 'quota_exceeded', until: monthEnd },
    });
    expect(byName.lifetime).toMatchObject({
      quota: { limit: 1, period: 'total', used: 1, resetsAt: null },
      refusing: { reason: 'quota_exceeded', until: null },
    });
    expect(await verifier.verify(monthly.apiKey)).toMatchObject({ ok: false, reason: 'quota_exceeded' });
    expect(await verifier.verify(lifetime.apiKey)).toMatchObject({ ok: false, reason: 'quota_exceeded' });
  });

  it('shows a revoked key refused as revoked, with no end, and a usable key refused by nothing', async () => {
    const userId = await newUser();
    const revoked = await newKey(userId, { name: 'old' });
    await newKey(userId, { name: 'new', rateLimit: { limit: 100, windowSeconds: 3600 } });
    expect((await verifier.verify(revoked.apiKey)).ok).toBe(true);
    expect((await invoke({ action: 'revoke', userId, keyId: revoked.keyId })).ok).toBe(true);

    const { usage } = await usageOf(userId);

    const byName = Object.fromEntries(usage.map((key) => [key.name, key]));
    expect(byName.old).toMatchObject({
      status: 'revoked',
      usageCount: 1,
      refusing: { reason: 'revoked', until: null },
    });
    expect(byName.new).toMatchObject({
      status: 'active',
      rateLimit: { used: 0, remaining: 100 },
      refusing: null,
    });
    expect(await verifier.verify(revoked.apiKey)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('shows an expired key refused as expired', async () => {
    const userId = await newUser();
    // Issued by a clock in the past, so it has expired by now.
    const past = keyStoreFor(tables, { clock: testClock('2020-01-01T00:00:00Z') });
    const { apiKey } = expectOk(await past.service.createKey({ userId, expiresAt: '2020-01-02T00:00:00Z' }));

    const { usage } = await usageOf(userId);

    expect(usage).toEqual([
      expect.objectContaining({ status: 'expired', refusing: { reason: 'expired', until: null } }),
    ]);
    expect(await verifier.verify(apiKey)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('shows every key of a suspended user refused as suspended, the user as suspended', async () => {
    const userId = await newUser();
    const first = await newKey(userId, { rateLimit: { limit: 1, windowSeconds: 86_400 } });
    await newKey(userId);
    await verifier.verify(first.apiKey);
    expect((await invoke({ action: 'suspend-user', userId })).ok).toBe(true);

    const { user, usage } = await usageOf(userId);

    expect(user.status).toBe('suspended');
    expect(usage.map((key) => key.refusing)).toEqual([
      { reason: 'suspended', until: null },
      { reason: 'suspended', until: null },
    ]);
    expect(await verifier.verify(first.apiKey)).toMatchObject({ ok: false, reason: 'suspended' });
  });

  it("shows a key as suspended once the user's status is, before stamping has reached the key", async () => {
    const userId = await newUser();
    await newKey(userId);
    // The status alone, as a suspension that stopped before stamping any key leaves it.
    await tables.doc.send(
      new UpdateCommand({
        TableName: tables.names.users,
        Key: { user_id: userId },
        UpdateExpression: 'SET #status = :suspended',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':suspended': 'suspended' },
      }),
    );

    const { usage } = await usageOf(userId);

    expect(usage[0]?.refusing).toEqual({ reason: 'suspended', until: null });
  });
});

describe('usage pages and filters', () => {
  it('pages exactly as list does: the same keys and the same nextToken on every page', async () => {
    const userId = await newUser();
    for (let index = 0; index < 3; index += 1) await newKey(userId, { name: `k${index}` });

    const first = await usageOf(userId, { limit: 2 });
    const second = await usageOf(userId, { limit: 2, nextToken: first.nextToken });
    const listFirst = await invoke({ action: 'list', userId, limit: 2 });
    const listSecond = await invoke({ action: 'list', userId, limit: 2, nextToken: listFirst.nextToken });

    expect(first.usage.map((key) => key.name)).toEqual(['k2', 'k1']);
    expect(second.usage.map((key) => key.name)).toEqual(['k0']);
    expect(first.nextToken).toEqual(listFirst.nextToken);
    expect(second.nextToken).toBeNull();
    expect([...first.usage, ...second.usage].map((key) => key.keyId)).toEqual(
      [...(listFirst.keys as KeyMetadata[]), ...(listSecond.keys as KeyMetadata[])].map((key) => key.keyId),
    );
    expect(await usageOf(userId)).toMatchObject({ nextToken: null, usage: { length: 3 } });
  });

  it("refuses a nextToken this user's pages did not return", async () => {
    const owner = await newUser();
    const other = await newUser();
    await newKey(owner);
    await newKey(owner);
    const { nextToken } = await usageOf(owner, { limit: 1 });

    const foreign = await invoke({ action: 'usage', userId: other, limit: 1, nextToken });

    expect(foreign).toMatchObject({ ok: false, error: { code: 'invalid_next_token' } });
  });

  it('answers exactly the key keyId names', async () => {
    const userId = await newUser();
    await newKey(userId, { name: 'a' });
    const { keyId } = await newKey(userId, { name: 'b' });
    await newKey(userId, { name: 'c' });

    const answer = await usageOf(userId, { keyId });

    expect(answer.usage.map((key) => [key.keyId, key.name])).toEqual([[keyId, 'b']]);
    expect(answer.nextToken).toBeNull();
    expect(auditLines()).toEqual([
      expect.objectContaining({ action: 'usage', user_id: userId, key_ids: [keyId], outcome: 'ok' }),
    ]);
  });

  it('answers key_not_found for an unknown key and for a key of another user', async () => {
    const owner = await newUser();
    const other = await newUser();
    const { keyId } = await newKey(owner);

    const unknown = await invoke({ action: 'usage', userId: owner, keyId: 'key_doesnotexist' });
    const foreign = await invoke({ action: 'usage', userId: other, keyId });

    expect(unknown).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
    expect(foreign).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
  });

  it('answers user_not_found for an unknown user, audited with that outcome', async () => {
    const ghost = uniqueUserId('ghost');

    const all = await invoke({ action: 'usage', userId: ghost });
    const audit = auditLines();
    const one = await invoke({ action: 'usage', userId: ghost, keyId: 'key_abc' });

    expect(all).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
    expect(one).toMatchObject({ ok: false, error: { code: 'user_not_found' } });
    expect(audit).toEqual([
      expect.objectContaining({ action: 'usage', user_id: ghost, key_ids: [], outcome: 'user_not_found' }),
    ]);
  });

  it('refuses keyId together with a page as an invalid event', async () => {
    const answer = await invoke({ action: 'usage', userId: 'u1', keyId: 'key_abc', limit: 10 });

    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
  });

  it('answers the user and the key fields only: never the hash or the secret', async () => {
    const userId = await newUser();
    const { apiKey } = await newKey(userId, { quota: { limit: 5, period: 'day' } });
    await verifier.verify(apiKey);

    const answer = await usageOf(userId);

    expect(Object.keys(answer).sort()).toEqual(['nextToken', 'ok', 'usage', 'user']);
    expect(Object.keys(answer.usage[0] ?? {}).sort()).toEqual(USAGE_FIELDS);
    const text = JSON.stringify(answer);
    expect(text).not.toContain(apiKey);
    expect(text).not.toContain(hashKey(apiKey));
    expect(logs?.output()).not.toContain(apiKey);
  });
});
