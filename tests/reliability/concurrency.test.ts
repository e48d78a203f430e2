/**
 * Concurrency through the real local stack: N parallel HTTPS requests with one key are
 * counted exactly (SPEC §5: one conditional UpdateItem each), parallel calls with one
 * Idempotency-Key invoke the brain once, and parallel rotations through the keys-admin
 * function (unchanged AWS SDK, local Invoke API) retire every old key exactly once and
 * issue exactly one new key per successful rotation. Keys created while a suspension runs
 * are all refused once it completes, and a suspension racing a reactivation always ends
 * with every key agreeing with the user's final status.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import type { KeyMetadata } from '../../shared/domain/keys/metadata.js';
import { AUTH_MESSAGES } from '../../shared/errors.js';
import { CHAT_BODY } from '../e2e/support/https.js';
import { startTestStack } from '../e2e/support/stack.js';
import { expectApiAnswer } from '../support/answer-checks.js';
import { type ApiClient, createApiClient, type HeaderValues } from '../support/api-client.js';
import { idempotencyRecordsFor } from '../support/idempotency-records.js';
import {
  type AdminAnswer,
  type IssuedKey,
  type KeysAdminClient,
  keysAdminClient,
} from '../support/keys-admin-client.js';

const N = 100;
const ROTATIONS = 10;
const chatBody = JSON.stringify(CHAT_BODY);

let stack: LocalStack;
let api: ApiClient;
let admin: KeysAdminClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  stack = await startTestStack();
  api = createApiClient(stack, { maxSockets: N });
  admin = keysAdminClient(stack.lambdaUrl);
  doc = createDocumentClient({ endpoint: stack.dynamodbEndpoint, maxAttempts: 1 });
});

afterAll(async () => {
  api?.close();
  admin?.close();
  doc?.destroy();
  await stack?.stop();
});

const newUser = (label: string) => admin.createUserWithKey(`${label}-${randomUUID().slice(0, 8)}`);
const usageOf = async (issued: IssuedKey) => (await admin.getKey(issued.userId, issued.keyId)).usageCount;

function post(apiKey: string, options: { body?: string; method?: string; headers?: HeaderValues } = {}) {
  return api.call({
    method: options.method ?? 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}`, ...options.headers },
    body: options.body ?? chatBody,
  });
}

describe(`${N} parallel requests with one key`, () => {
  it('answers every one 200 with its own request_id and counts exactly N more calls', async () => {
    const caller = await newUser('parallel');
    expectApiAnswer(await post(caller.apiKey), [200]);

    const answers = await Promise.all(
      Array.from({ length: N }, (_, index) =>
        index % 2 === 0
          ? post(caller.apiKey)
          : api.call({
              headers: { 'Content-Type': 'application/json', 'X-API-Key': caller.apiKey },
              body: chatBody,
            }),
      ),
    );

    const requestIds = answers.map((answer) => expectApiAnswer(answer, [200]).requestId);
    expect(new Set(requestIds).size).toBe(N);
    const key = await admin.getKey(caller.userId, caller.keyId);
    expect(key.usageCount).toBe(1 + N);
    expect(key.lastUsedAt).not.toBeNull();
  });

  it('counts every authorized call exactly, whatever the function answers (200, 400, 405)', async () => {
    const caller = await newUser('mixed');

    const answers = await Promise.all(
      Array.from({ length: N }, (_, index) => {
        if (index % 4 === 1) return post(caller.apiKey, { body: '{"provider":' });
        if (index % 4 === 2) return post(caller.apiKey, { method: 'GET', body: '' });
        return post(caller.apiKey);
      }),
    );

    const statuses = answers.map((answer) => expectApiAnswer(answer, [200, 400, 405]).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(N / 2);
    expect(statuses.filter((status) => status === 400)).toHaveLength(N / 4);
    expect(statuses.filter((status) => status === 405)).toHaveLength(N / 4);
    expect(await usageOf(caller)).toBe(N);
  });

  it('invokes the brain once for N parallel calls with one Idempotency-Key: one answer, one record, N counted', async () => {
    const caller = await newUser('idempotent');
    const idempotencyKey = `parallel-${randomUUID()}`;

    const answers = await Promise.all(
      Array.from({ length: N }, () =>
        post(caller.apiKey, { headers: { 'Idempotency-Key': idempotencyKey } }),
      ),
    );

    const checked = answers.map((answer) => expectApiAnswer(answer, [200, 409]));
    const served = answers.filter((answer) => answer.status === 200);
    const firstHand = served.filter((answer) => answer.headers['idempotent-replayed'] === undefined);
    expect(firstHand).toHaveLength(1);
    expect(new Set(served.map((answer) => answer.headers['x-request-id'])).size).toBe(1);
    for (const conflict of checked.filter((answer) => answer.status === 409)) {
      expect(conflict.envelope?.error.code).toBe('idempotency_conflict');
    }
    const records = await idempotencyRecordsFor(
      doc,
      stack.tableNames.idempotency,
      caller.userId,
      idempotencyKey,
    );
    expect(records).toHaveLength(1);
    expect(records[0]?.answer_request_id).toBe(firstHand[0]?.headers['x-request-id']);
    expect(await usageOf(caller)).toBe(N);
  });
});

type Success = Extract<AdminAnswer, { ok: true }> & {
  apiKey: string;
  key: KeyMetadata;
  retired: KeyMetadata[];
};

function successes(answers: Array<AdminAnswer | undefined>): Success[] {
  return answers.flatMap((answer) =>
    answer?.ok && answer.apiKey && answer.key && answer.retired ? [answer as Success] : [],
  );
}

async function userWithKeys(label: string, count: number): Promise<{ userId: string; keys: IssuedKey[] }> {
  const first = await newUser(label);
  const keys = [first];
  for (let index = 1; index < count; index += 1) {
    const created = await admin.expectOk({ action: 'create', userId: first.userId });
    if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
    keys.push({ userId: first.userId, keyId: created.key.keyId, apiKey: created.apiKey });
  }
  return { userId: first.userId, keys };
}

const isActive = (key: KeyMetadata) => key.status === 'active';

async function expectRevokedOverHttps(apiKey: string, label: string): Promise<void> {
  const { envelope } = expectApiAnswer(await post(apiKey), [401], label);
  expect(envelope?.error.message, label).toBe(AUTH_MESSAGES.revoked);
}

describe(`${ROTATIONS} parallel rotations through keys-admin`, () => {
  it('of all keys retire every old key exactly once and leave exactly one new active key per rotation not itself retired', async () => {
    const { userId, keys: oldKeys } = await userWithKeys('rotate-all', 3);
    const oldIds = oldKeys.map((key) => key.keyId);

    const results = await Promise.all(
      Array.from({ length: ROTATIONS }, () => admin.invoke({ action: 'rotate', userId, graceSeconds: 0 })),
    );

    expect(results.map((result) => result.functionError)).toEqual(Array(ROTATIONS).fill(undefined));
    const won = successes(results.map((result) => result.answer));
    expect(won).toHaveLength(ROTATIONS);
    const newIds = won.map((success) => success.key.keyId);
    expect(new Set(newIds).size).toBe(ROTATIONS);
    const retiredIds = won.flatMap((success) => success.retired.map((key) => key.keyId));
    expect(new Set(retiredIds).size).toBe(retiredIds.length);
    for (const oldId of oldIds) expect(retiredIds.filter((id) => id === oldId)).toHaveLength(1);

    const listed = await admin.listKeys(userId);
    expect(listed).toHaveLength(oldIds.length + ROTATIONS);
    const activeIds = listed.filter(isActive).map((key) => key.keyId);
    // A rotation retires the keys active when it looked, so one that ran after another may retire
    // that one's new key; every new key is therefore active or retired (once), never both, never neither.
    const newRetired = newIds.filter((id) => retiredIds.includes(id));
    expect(activeIds.length).toBeGreaterThanOrEqual(1);
    expect(activeIds.sort()).toEqual(newIds.filter((id) => !newRetired.includes(id)).sort());
    expect(activeIds.length).toBe(won.length - newRetired.length);
    expect(oldIds.filter((id) => activeIds.includes(id))).toEqual([]);

    for (const [index, old] of oldKeys.entries())
      await expectRevokedOverHttps(old.apiKey, `old key ${index + 1}`);
    for (const success of won) {
      if (activeIds.includes(success.key.keyId))
        expectApiAnswer(await post(success.apiKey), [200], 'new key');
      else await expectRevokedOverHttps(success.apiKey, 'a new key a later rotation retired');
    }
  });

  it('of one keyId let exactly one succeed, with exactly one new active key from it', async () => {
    const { userId, keys } = await userWithKeys('rotate-one', 2);
    const [target, bystander] = keys;
    if (!target || !bystander) throw new Error('expected two keys');

    const results = await Promise.all(
      Array.from({ length: ROTATIONS }, () =>
        admin.invoke({ action: 'rotate', userId, keyId: target.keyId, graceSeconds: 0 }),
      ),
    );

    expect(results.map((result) => result.functionError)).toEqual(Array(ROTATIONS).fill(undefined));
    const won = successes(results.map((result) => result.answer));
    expect(won).toHaveLength(1);
    const losers = results.map((result) => result.answer).filter((answer) => answer && !answer.ok);
    expect(losers).toHaveLength(ROTATIONS - 1);
    for (const loser of losers) expect(loser).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    const [winner] = won;
    expect(winner?.retired.map((key) => key.keyId)).toEqual([target.keyId]);

    const listed = await admin.listKeys(userId);
    expect(listed).toHaveLength(3);
    expect(
      listed
        .filter(isActive)
        .map((key) => key.keyId)
        .sort(),
    ).toEqual([bystander.keyId, winner?.key.keyId].sort());
    await expectRevokedOverHttps(target.apiKey, 'the rotated key');
    expectApiAnswer(await post(winner?.apiKey ?? ''), [200], 'the new key');
    expectApiAnswer(await post(bystander.apiKey), [200], 'the untouched key');
  });
});

const SUSPENSION_RACERS = 20;

async function expectSuspendedOverHttps(apiKey: string, label: string): Promise<void> {
  const { envelope } = expectApiAnswer(await post(apiKey), [401], label);
  expect(envelope?.error.message, label).toBe(AUTH_MESSAGES.suspended);
}

describe('suspension racing other keys-admin calls', () => {
  it(`refuses every key that ${SUSPENSION_RACERS} parallel creates managed to issue before the suspension`, async () => {
    const { userId, keys: before } = await userWithKeys('suspend-race', 3);

    const [suspension, ...creates] = await Promise.all([
      admin.invoke({ action: 'suspend-user', userId }),
      ...Array.from({ length: SUSPENSION_RACERS }, () => admin.invoke({ action: 'create', userId })),
    ]);

    expect(suspension?.functionError).toBeUndefined();
    expect(suspension?.answer).toMatchObject({ ok: true, complete: true });
    const issued = creates.flatMap((result) =>
      result.answer?.ok && result.answer.apiKey ? [result.answer.apiKey] : [],
    );
    for (const result of creates) {
      if (!result.answer?.ok) expect(result.answer).toMatchObject({ error: { code: 'user_suspended' } });
    }
    // Every key — made before or during the suspension — is refused now.
    for (const [index, apiKey] of [...before.map((key) => key.apiKey), ...issued].entries()) {
      await expectSuspendedOverHttps(apiKey, `key ${index + 1}`);
    }
    expect(await admin.listKeys(userId)).toHaveLength(before.length + issued.length);
  });

  it('ends with every key agreeing with the final status when suspend and reactivate race', async () => {
    const { userId, keys } = await userWithKeys('suspend-flip', 4);

    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        admin.invoke({ action: index % 2 === 0 ? 'suspend-user' : 'reactivate-user', userId }),
      ),
    );

    for (const result of results) {
      expect(result.functionError).toBeUndefined();
      const answer = result.answer;
      if (answer && !answer.ok) expect(['user_status_changed', 'conflict']).toContain(answer.error.code);
    }
    // Whatever won, repeating the action for the final status finishes its stamping.
    const { answer: user } = await admin.invoke({ action: 'suspend-user', userId });
    expect(user).toMatchObject({ ok: true, complete: true });
    for (const [index, key] of keys.entries()) await expectSuspendedOverHttps(key.apiKey, `key ${index + 1}`);
    const { answer: back } = await admin.invoke({ action: 'reactivate-user', userId });
    expect(back).toMatchObject({ ok: true, complete: true, keysUpdated: keys.length });
    for (const [index, key] of keys.entries()) {
      expectApiAnswer(await post(key.apiKey), [200], `key ${index + 1} after reactivation`);
    }
  });
});
