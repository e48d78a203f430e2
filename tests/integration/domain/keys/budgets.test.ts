/**
 * A key's spend budget through the key service on DynamoDB Local (SPEC §5b, §6): `create`
 * writes the budget item in the key's one transaction, `update` sets, changes or clears it,
 * every answer with key metadata shows the budget as its item says, `usage` says when the next
 * call's hold would not fit, and a rotation shares one budget between the new key and the old
 * one in its grace period — never reset, never doubled.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetItem, KeyBudgetRef } from '../../../../shared/domain/budgets/model.js';
import { micros } from '../../../../shared/domain/budgets/money.js';
import type { BudgetStore } from '../../../../shared/domain/budgets/ports.js';
import { hashKey } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import { createKeyService, type KeyService } from '../../../../shared/domain/keys/service.js';
import { ledgerOn } from '../../../support/budgets.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import {
  expectOk,
  keyStoreFor,
  type TestClock,
  type TestKeyStore,
  testClock,
  uniqueUserId,
} from '../../../support/keystore.js';
import { recordingLogger } from '../../../support/logs.js';
import { countingDocumentClient } from '../../../support/sdk.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-budgets');
});
afterAll(async () => tables.drop());

/** Mid-month and mid-day, so neither period ends during a test. */
const START = '2030-01-15T12:00:00.000Z';
const MINUTE = 60_000;

async function userWithService(options: { defaultBudgetHoldUsd?: number; clock?: TestClock } = {}) {
  const clock = options.clock ?? testClock(START);
  const store = keyStoreFor(tables, {
    clock,
    ...(options.defaultBudgetHoldUsd ? { defaultBudgetHoldUsd: options.defaultBudgetHoldUsd } : {}),
  });
  const userId = uniqueUserId('bud');
  expectOk(await store.service.createUser({ userId }));
  // The request path's side, on the same clock: holds and settles on a key's budget.
  const ledger = ledgerOn(store.budgets, { clock: () => clock().getTime() });
  return { store, clock, userId, ledger };
}

async function storedKey(store: TestKeyStore, apiKey: string): Promise<ApiKeyItem> {
  const item = await store.keys.findByHash(hashKey(apiKey));
  if (!item) throw new Error('key item missing');
  return item;
}

async function storedBudget(store: TestKeyStore, budgetId: string | undefined): Promise<BudgetItem> {
  const item = budgetId ? await store.budgets.find(budgetId) : undefined;
  if (!item) throw new Error(`budget item ${budgetId} missing`);
  return item;
}

/** Every budget item of a user (a scan: proof of how many were, or were not, written). */
async function budgetsOfUser(userId: string): Promise<BudgetItem[]> {
  const page = await tables.doc.send(
    new ScanCommand({
      TableName: tables.names.budgets,
      ConsistentRead: true,
      FilterExpression: 'user_id = :user',
      ExpressionAttributeValues: { ':user': userId },
    }),
  );
  return (page.Items ?? []) as BudgetItem[];
}

/** The budget a key's calls hold on, as the authorizer passes it (from the key item). */
async function refOfKey(store: TestKeyStore, apiKey: string): Promise<KeyBudgetRef> {
  const verified = await store.service.verify(apiKey);
  if (!verified.ok || !verified.budget) throw new Error(`no budget admitted: ${JSON.stringify(verified)}`);
  return verified.budget;
}

/** A budgeted key whose budget has one settled call (paying `paidUsd`) and one hold still open. */
async function keyWithOnePaidCallAndOneOpenHold(
  budget: Parameters<KeyService['createKey']>[0]['budget'],
  paidUsd: number,
) {
  const { store, userId, ledger, clock } = await userWithService();
  const created = expectOk(await store.service.createKey({ userId, ...(budget ? { budget } : {}) }));
  const keyId = created.key.keyId;
  const ref = await refOfKey(store, created.apiKey);
  const owner = { keyId, userId };
  const paid = await ledger.hold(ref, 'req-1', clock().getTime() + MINUTE, owner);
  if (!paid.ok) throw new Error('hold expected');
  await ledger.settle(paid.hold, { actual_amount: paidUsd, currency: 'USD' });
  expect((await ledger.hold(ref, 'req-2', clock().getTime() + MINUTE, owner)).ok).toBe(true);
  return { store, userId, keyId, created, ref };
}

describe('create with a budget', () => {
  it('writes the budget item in the key’s one transaction, and the key names it with copies of its configuration', async () => {
    const { store, userId } = await userWithService();
    const counting = countingDocumentClient(tables.endpoint);
    const counted = keyStoreFor({ doc: counting.doc, names: tables.names }, { clock: testClock(START) });

    const created = expectOk(
      await counted.service.createKey({
        userId,
        budget: { limit: micros(25_000_000), period: 'month', perCallHold: micros(100_000) },
      }),
    );

    // The user's read, then one transaction: the user check, the key, its reference, its budget.
    expect(counting.calls).toEqual(['GetItemCommand', 'TransactWriteItemsCommand']);
    counting.doc.destroy();

    const item = await storedKey(store, created.apiKey);
    expect(item.budget_id).toMatch(/^bud_[0-9A-Za-z]{22}$/);
    expect(item).toMatchObject({ budget_limit: 25_000_000, budget_period: 'month', budget_hold: 100_000 });
    expect(await storedBudget(store, item.budget_id)).toEqual({
      budget_id: item.budget_id,
      user_id: userId,
      key_id: created.key.keyId,
      budget_limit: 25_000_000,
      budget_period: 'month',
      per_call_hold: 100_000,
      period_start: '2030-01',
      spent: 0,
      held: 0,
      unheld: 25_000_000,
      remaining: 25_000_000,
      holds: {},
      foreign_paid: {},
      created_at: START,
    });
    expect(created.key.budget).toEqual({
      limit: 25,
      period: 'month',
      perCallHold: 0.1,
      spent: 0,
      held: 0,
      remaining: 25,
      resetsAt: '2030-02-01T00:00:00.000Z',
    });
  });

  it('writes no budget item when the key is refused (the transaction writes all or nothing)', async () => {
    const { store, userId } = await userWithService();
    expectOk(await store.service.setUserStatus({ userId, suspended: true }));

    const refused = await store.service.createKey({
      userId,
      budget: { limit: micros(5_000_000), period: 'day' },
    });

    expect(refused).toMatchObject({ ok: false, error: { code: 'user_suspended' } });
    expect(await budgetsOfUser(userId)).toEqual([]);
  });

  it('holds the stage’s default per call, or 0.50, never more than the limit', async () => {
    const plain = await userWithService();
    const staged = await userWithService({ defaultBudgetHoldUsd: 0.25 });
    const holdOf = async (
      setup: Awaited<ReturnType<typeof userWithService>>,
      limit: number,
    ): Promise<number | undefined> =>
      expectOk(
        await setup.store.service.createKey({
          userId: setup.userId,
          budget: { limit: micros(limit), period: 'day' },
        }),
      ).key.budget?.perCallHold;

    expect(await holdOf(plain, 5_000_000)).toBe(0.5);
    expect(await holdOf(staged, 5_000_000)).toBe(0.25);
    // A $0.20 budget holds $0.20 a call: one call at a time, rather than none.
    expect(await holdOf(plain, 200_000)).toBe(0.2);
    expect(await holdOf(staged, 200_000)).toBe(0.2);
  });

  it('leaves a key without a budget as it was: no budget fields, no budget item, budget null', async () => {
    const { store, userId } = await userWithService();

    const created = expectOk(await store.service.createKey({ userId }));

    expect(created.key.budget).toBeNull();
    expect(await storedKey(store, created.apiKey)).not.toHaveProperty('budget_id');
    expect(await budgetsOfUser(userId)).toEqual([]);
    expect((await store.service.verify(created.apiKey)) as object).not.toHaveProperty('budget');
  });
});

describe('the budget in get, list, usage and revoke', () => {
  it('shows what was spent and held as the budget item says, in every view', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(400_000) },
      }),
    );
    clock.advance(1000);
    const plain = expectOk(await store.service.createKey({ userId }));
    const keyId = created.key.keyId;
    const ref = await refOfKey(store, created.apiKey);
    const owner = { keyId, userId };
    const first = await ledger.hold(ref, 'req-1', clock().getTime() + MINUTE, owner);
    if (!first.ok) throw new Error('the first hold fits');
    await ledger.settle(first.hold, { actual_amount: 0.123456, currency: 'USD' });
    const open = await ledger.hold(ref, 'req-2', clock().getTime() + MINUTE, owner);
    expect(open.ok).toBe(true);

    const expected = {
      limit: 1,
      period: 'day',
      perCallHold: 0.4,
      spent: 0.123456,
      held: 0.4,
      remaining: 0.476544,
      resetsAt: '2030-01-16T00:00:00.000Z',
    };
    expect(expectOk(await store.service.getKey({ userId, keyId })).key.budget).toEqual(expected);
    const listed = expectOk(await store.service.listKeys({ userId, limit: 10 })).keys;
    expect(listed.map((key) => [key.keyId, key.budget])).toEqual([
      [plain.key.keyId, null],
      [keyId, expected],
    ]);
    const usage = expectOk(await store.service.keyUsage({ userId, limit: 10 })).usage;
    expect(usage.find((key) => key.keyId === keyId)).toMatchObject({ budget: expected, refusing: null });
    expect(usage.find((key) => key.keyId === plain.key.keyId)).toMatchObject({
      budget: null,
      refusing: null,
    });
  });

  it('says in usage that the next call would be refused once its hold no longer fits, until the period ends', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(600_000) },
      }),
    );
    const keyId = created.key.keyId;
    const held = await ledger.hold(
      await refOfKey(store, created.apiKey),
      'req-1',
      clock().getTime() + MINUTE,
      {
        keyId,
        userId,
      },
    );
    expect(held.ok).toBe(true);

    const [usage] = expectOk(await store.service.keyUsage({ userId, keyId, limit: 10 })).usage;

    expect(usage).toMatchObject({
      budget: { held: 0.6, remaining: 0.4 },
      refusing: { reason: 'budget_exceeded', until: '2030-01-16T00:00:00.000Z' },
    });
  });

  it('shows the budget in the answer to revoke', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, budget: { limit: micros(2_000_000), period: 'total' } }),
    );

    const revoked = expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));

    expect(revoked.key).toMatchObject({
      status: 'revoked',
      budget: { limit: 2, period: 'total', spent: 0, remaining: 2, resetsAt: null },
    });
  });

  it('warns of a key that names a missing budget item and shows no view for it', async () => {
    const log = recordingLogger();
    const clock = testClock(START);
    const store = keyStoreFor(tables, { clock, logger: log.logger });
    const userId = uniqueUserId('bud');
    expectOk(await store.service.createUser({ userId }));
    const created = expectOk(await store.service.createKey({ userId }));
    const item = await storedKey(store, created.apiKey);
    // A broken reference, as only a hand-edited table could make it.
    expectOk(
      await store.keys.update(item.key_hash, userId, {
        budget: {
          ref: { budgetId: 'bud_missing', limit: 1_000_000, period: 'day', hold: 500_000 },
          expectedBudgetId: null,
        },
      }),
    );

    const key = expectOk(await store.service.getKey({ userId, keyId: created.key.keyId })).key;

    expect(key.budget).toBeNull();
    expect(log.records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'key names a missing budget',
        attributes: { key_id: created.key.keyId, budget_id: 'bud_missing' },
      }),
    );
  });
});

describe('update', () => {
  it('gives a key without a budget a new budget item, then names it', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId }));

    const updated = expectOk(
      await store.service.updateKey({
        userId,
        keyId: created.key.keyId,
        budget: { limit: micros(5_000_000), period: 'day', perCallHold: micros(250_000) },
      }),
    );

    const item = await storedKey(store, created.apiKey);
    expect(item).toMatchObject({ budget_limit: 5_000_000, budget_period: 'day', budget_hold: 250_000 });
    expect(await storedBudget(store, item.budget_id)).toMatchObject({
      key_id: created.key.keyId,
      user_id: userId,
      period_start: '2030-01-15',
      spent: 0,
      remaining: 5_000_000,
    });
    expect(updated.key.budget).toEqual({
      limit: 5,
      period: 'day',
      perCallHold: 0.25,
      spent: 0,
      held: 0,
      remaining: 5,
      resetsAt: '2030-01-16T00:00:00.000Z',
    });
  });

  it('changes the limit and hold of the same budget item, keeping what was spent and held', async () => {
    const { store, userId, keyId, created, ref } = await keyWithOnePaidCallAndOneOpenHold(
      { limit: micros(1_000_000), period: 'month', perCallHold: micros(300_000) },
      0.2,
    );

    const updated = expectOk(
      await store.service.updateKey({
        userId,
        keyId,
        budget: { limit: micros(3_000_000), period: 'month', perCallHold: micros(500_000) },
      }),
    );

    expect(updated.key.budget).toMatchObject({
      limit: 3,
      perCallHold: 0.5,
      spent: 0.2,
      held: 0.3,
      remaining: 2.5,
    });
    const item = await storedKey(store, created.apiKey);
    expect(item).toMatchObject({ budget_id: ref.budgetId, budget_limit: 3_000_000, budget_hold: 500_000 });
    expect(await storedBudget(store, ref.budgetId)).toMatchObject({
      budget_limit: 3_000_000,
      per_call_hold: 500_000,
      spent: 200_000,
      held: 300_000,
      unheld: 2_700_000,
      remaining: 2_500_000,
    });
    expect(await budgetsOfUser(userId)).toHaveLength(1);
  });

  it('restarts counting when the period changes, keeping open holds held', async () => {
    const { store, userId, keyId, created, ref } = await keyWithOnePaidCallAndOneOpenHold(
      { limit: micros(1_000_000), period: 'day', perCallHold: micros(100_000) },
      0.09,
    );

    const updated = expectOk(
      await store.service.updateKey({
        userId,
        keyId,
        budget: { limit: micros(10_000_000), period: 'month', perCallHold: micros(100_000) },
      }),
    );

    expect(updated.key.budget).toEqual({
      limit: 10,
      period: 'month',
      perCallHold: 0.1,
      spent: 0,
      held: 0.1,
      remaining: 9.9,
      resetsAt: '2030-02-01T00:00:00.000Z',
    });
    expect(await storedBudget(store, ref.budgetId)).toMatchObject({
      period_start: '2030-01',
      budget_period: 'month',
    });
    expect(await storedKey(store, created.apiKey)).toMatchObject({ budget_period: 'month' });
  });

  it('lifts a block from an overspend when the operator sets the budget again', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(100_000) },
      }),
    );
    const keyId = created.key.keyId;
    const ref = await refOfKey(store, created.apiKey);
    const owner = { keyId, userId };
    const over = await ledger.hold(ref, 'req-1', clock().getTime() + MINUTE, owner);
    if (!over.ok) throw new Error('hold expected');
    await ledger.settle(over.hold, { actual_amount: 0.2, currency: 'USD' });
    const [blocked] = expectOk(await store.service.keyUsage({ userId, keyId, limit: 10 })).usage;
    expect(blocked?.refusing).toMatchObject({ reason: 'budget_exceeded' });

    expectOk(
      await store.service.updateKey({
        userId,
        keyId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(100_000) },
      }),
    );

    const [lifted] = expectOk(await store.service.keyUsage({ userId, keyId, limit: 10 })).usage;
    expect(lifted).toMatchObject({ budget: { spent: 0.2, remaining: 0.8 }, refusing: null });
    expect((await ledger.hold(ref, 'req-2', clock().getTime() + MINUTE, owner)).ok).toBe(true);
  });

  it('retries from what it finds when another update changed the budget in between', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(
      await store.service.createKey({ userId, budget: { limit: micros(1_000_000), period: 'day' } }),
    );
    const keyId = created.key.keyId;
    const budgetId = (await storedKey(store, created.apiKey)).budget_id as string;
    const real = store.budgets;
    let raced = false;
    // Another operator's update reconfigures the budget between this update's read and its write.
    const racing: BudgetStore = {
      create: (item) => real.create(item),
      find: (id) => real.find(id),
      findMany: (ids) => real.findMany(ids),
      hold: (plan) => real.hold(plan),
      extendHold: (id, requestId, until) => real.extendHold(id, requestId, until),
      settle: (settlement) => real.settle(settlement),
      releaseExpired: (id, holds) => real.releaseExpired(id, holds),
      async reconfigure(change) {
        if (!raced) {
          raced = true;
          await real.reconfigure({
            budgetId,
            expected: change.expected,
            next: { limit: micros(7_000_000), period: 'day', hold: micros(500_000) },
          });
        }
        return real.reconfigure(change);
      },
    };
    const racingService = createKeyService({
      keys: store.keys,
      users: store.users,
      budgets: racing,
      environment: 'test',
      logger: recordingLogger().logger,
      clock: testClock(START),
    });

    const updated = expectOk(
      await racingService.updateKey({
        userId,
        keyId,
        budget: { limit: micros(2_000_000), period: 'day', perCallHold: micros(200_000) },
      }),
    );

    expect(raced).toBe(true);
    expect(updated.key.budget).toMatchObject({ limit: 2, perCallHold: 0.2, remaining: 2 });
    expect(await storedBudget(store, budgetId)).toMatchObject({
      budget_limit: 2_000_000,
      remaining: 2_000_000,
    });
  });

  it('clears the key’s budget fields and leaves the budget item as it was', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(100_000) },
      }),
    );
    const keyId = created.key.keyId;
    const ref = await refOfKey(store, created.apiKey);
    const paid = await ledger.hold(ref, 'req-1', clock().getTime() + MINUTE, { keyId, userId });
    if (!paid.ok) throw new Error('hold expected');
    await ledger.settle(paid.hold, { actual_amount: 0.05, currency: 'USD' });
    const before = await storedBudget(store, ref.budgetId);

    const cleared = expectOk(await store.service.updateKey({ userId, keyId, budget: null }));

    expect(cleared.key.budget).toBeNull();
    const item = await storedKey(store, created.apiKey);
    for (const field of ['budget_id', 'budget_limit', 'budget_period', 'budget_hold'])
      expect(item).not.toHaveProperty(field);
    expect(await storedBudget(store, ref.budgetId)).toEqual(before);
    expect((await store.service.verify(created.apiKey)) as object).not.toHaveProperty('budget');
  });

  it('refuses a revoked key and writes no budget item for it', async () => {
    const { store, userId } = await userWithService();
    const created = expectOk(await store.service.createKey({ userId }));
    expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId }));

    const refused = await store.service.updateKey({
      userId,
      keyId: created.key.keyId,
      budget: { limit: micros(1_000_000), period: 'day' },
    });

    expect(refused).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    expect(await budgetsOfUser(userId)).toEqual([]);
  });
});

describe('rotation', () => {
  it('gives the new key the same budget: held on the old key’s budget shows on the new key, neither reset nor doubled', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(250_000) },
      }),
    );
    const oldRef = await refOfKey(store, created.apiKey);
    const owner = { keyId: created.key.keyId, userId };
    const paid = await ledger.hold(oldRef, 'req-1', clock().getTime() + MINUTE, owner);
    if (!paid.ok) throw new Error('hold expected');
    await ledger.settle(paid.hold, { actual_amount: 0.1, currency: 'USD' });
    // A call of the old key still running when the rotation happens.
    expect((await ledger.hold(oldRef, 'req-2', clock().getTime() + MINUTE, owner)).ok).toBe(true);

    const rotated = expectOk(
      await store.service.rotate({ userId, keyId: created.key.keyId, graceSeconds: 3600 }),
    );

    const shared = { limit: 1, spent: 0.1, held: 0.25, remaining: 0.65 };
    expect(rotated.key.budget).toMatchObject(shared);
    expect(rotated.retired.map((key) => key.budget)).toEqual([expect.objectContaining(shared)]);
    const newItem = await storedKey(store, rotated.apiKey);
    expect(newItem).toMatchObject({
      budget_id: oldRef.budgetId,
      budget_limit: 1_000_000,
      budget_period: 'day',
      budget_hold: 250_000,
    });
    expect(await budgetsOfUser(userId)).toHaveLength(1);

    // Both keys draw on it: the old one in its grace period and the new one.
    const newRef = await refOfKey(store, rotated.apiKey);
    expect(newRef).toEqual(oldRef);
    const byNew = await ledger.hold(newRef, 'req-3', clock().getTime() + MINUTE, {
      keyId: rotated.key.keyId,
      userId,
    });
    if (!byNew.ok) throw new Error('hold expected');
    await ledger.settle(byNew.hold, { actual_amount: 0.2, currency: 'USD' });
    expect(await store.service.verify(created.apiKey)).toMatchObject({ ok: true, budget: oldRef });
    expect((await ledger.hold(oldRef, 'req-4', clock().getTime() + MINUTE, owner)).ok).toBe(true);
    // One budget, not two: what the old key holds is gone for the new key too.
    const newOwner = { keyId: rotated.key.keyId, userId };
    expect((await ledger.hold(newRef, 'req-5', clock().getTime() + MINUTE, newOwner)).ok).toBe(false);

    const [oldView, newView] = await Promise.all([
      store.service.getKey({ userId, keyId: created.key.keyId }),
      store.service.getKey({ userId, keyId: rotated.key.keyId }),
    ]);
    const after = { spent: 0.3, held: 0.5, remaining: 0.2 };
    expect(expectOk(oldView).key.budget).toMatchObject(after);
    expect(expectOk(newView).key.budget).toMatchObject(after);
  });

  it('passes the newest key’s budget on when rotating all of a user’s keys', async () => {
    const { store, userId, clock } = await userWithService();
    expectOk(
      await store.service.createKey({ userId, budget: { limit: micros(9_000_000), period: 'total' } }),
    );
    clock.advance(1000);
    const newest = expectOk(
      await store.service.createKey({ userId, budget: { limit: micros(3_000_000), period: 'month' } }),
    );
    const newestRef = await refOfKey(store, newest.apiKey);

    const rotated = expectOk(await store.service.rotate({ userId }));

    expect(await refOfKey(store, rotated.apiKey)).toEqual(newestRef);
    expect(rotated.key.budget).toMatchObject({ limit: 3, period: 'month' });
    expect(rotated.retired.map((key) => key.budget?.limit).sort()).toEqual([3, 9]);
    expect(await budgetsOfUser(userId)).toHaveLength(2);
  });

  it('lets an update of the new key change the budget the old key in grace draws on, and a clear leave it capped', async () => {
    const { store, userId, ledger, clock } = await userWithService();
    const created = expectOk(
      await store.service.createKey({
        userId,
        budget: { limit: micros(1_000_000), period: 'day', perCallHold: micros(500_000) },
      }),
    );
    const oldRef = await refOfKey(store, created.apiKey);
    const rotated = expectOk(
      await store.service.rotate({ userId, keyId: created.key.keyId, graceSeconds: 3600 }),
    );

    expectOk(
      await store.service.updateKey({
        userId,
        keyId: rotated.key.keyId,
        budget: { limit: micros(500_000), period: 'day', perCallHold: micros(500_000) },
      }),
    );
    expectOk(await store.service.updateKey({ userId, keyId: rotated.key.keyId, budget: null }));

    // The old key still names the budget item, now $0.50: one hold fits, the next does not.
    const owner = { keyId: created.key.keyId, userId };
    expect((await ledger.hold(oldRef, 'req-1', clock().getTime() + MINUTE, owner)).ok).toBe(true);
    expect((await ledger.hold(oldRef, 'req-2', clock().getTime() + MINUTE, owner)).ok).toBe(false);
    const oldKey = expectOk(await store.service.getKey({ userId, keyId: created.key.keyId })).key;
    expect(oldKey.budget).toMatchObject({ limit: 0.5, held: 0.5, remaining: 0 });
  });
});
