/**
 * Spend budgets through the keys-admin function as Lambda calls it (SPEC §5b, §6): `budget`
 * on create and update (`null` clears), its view in every answer with key metadata and in
 * `usage`, the stage's default per-call hold (BUDGET_DEFAULT_HOLD_USD, as the stack sets it),
 * a rotation sharing the budget, and bad budgets refused as invalid events naming the field,
 * writing nothing.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetItem } from '../../../shared/domain/budgets/model.js';
import { hashKey } from '../../../shared/domain/keys/format.js';
import type { KeyMetadata } from '../../../shared/domain/keys/metadata.js';
import type { KeyUsage } from '../../../shared/domain/keys/usage.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { type KeysAdminHandler, loadKeysAdminHandler } from '../../support/keys-admin-handler.js';
import { keyStoreFor, scanApiKeys, uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { captureOutput } from '../../support/logs.js';

interface Answer {
  ok: boolean;
  error?: { code: string; message: string };
  [field: string]: unknown;
}

/** The stage's default hold in this file: what a budget without `perCallHold` holds per call. */
const STAGE_HOLD_USD = '0.25';

let tables: TestTables;
let handler: KeysAdminHandler;

beforeAll(async () => {
  tables = await createTestTables('keys-admin-budgets');
  // Read once at the module's init, as on a cold start; not left for other files.
  process.env.BUDGET_DEFAULT_HOLD_USD = STAGE_HOLD_USD;
  try {
    handler = await loadKeysAdminHandler(tables);
  } finally {
    delete process.env.BUDGET_DEFAULT_HOLD_USD;
  }
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

function ok(answer: Answer): Answer {
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return answer;
}

async function newUser(): Promise<string> {
  const userId = uniqueUserId('admin-bud');
  ok(await invoke({ action: 'create-user', userId }));
  return userId;
}

async function newKey(userId: string, extra: Record<string, unknown> = {}) {
  const answer = ok(await invoke({ action: 'create', userId, ...extra }));
  return { apiKey: answer.apiKey as string, key: answer.key as KeyMetadata };
}

async function scanBudgets(): Promise<BudgetItem[]> {
  const page = await tables.doc.send(
    new ScanCommand({ TableName: tables.names.budgets, ConsistentRead: true }),
  );
  return (page.Items ?? []) as BudgetItem[];
}

/** The current UTC day's end and month's end, as the views show them. */
function periodEnds(now = new Date()) {
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { day: day.toISOString(), month: month.toISOString() };
}

describe('create with a budget', () => {
  it('answers the budget in the metadata, holding the stage’s default per call, and writes its item', async () => {
    const userId = await newUser();

    const { apiKey, key } = await newKey(userId, { budget: { limit: 5, period: 'day' } });

    const view = {
      limit: 5,
      period: 'day',
      perCallHold: 0.25,
      spent: 0,
      held: 0,
      remaining: 5,
      resetsAt: periodEnds().day,
    };
    expect(key.budget).toEqual(view);
    expect((ok(await invoke({ action: 'get', userId, keyId: key.keyId })).key as KeyMetadata).budget).toEqual(
      view,
    );
    const item = await keyStoreFor(tables).keys.findByHash(hashKey(apiKey));
    expect(item).toMatchObject({ budget_limit: 5_000_000, budget_period: 'day', budget_hold: 250_000 });
    expect(await scanBudgets()).toContainEqual(
      expect.objectContaining({ budget_id: item?.budget_id, key_id: key.keyId, user_id: userId }),
    );
  });

  it('takes a per-call hold of its own, and caps the default at a smaller limit', async () => {
    const userId = await newUser();

    const own = await newKey(userId, { budget: { limit: 25, period: 'month', perCallHold: 0.1 } });
    const small = await newKey(userId, { budget: { limit: 0.2, period: 'total' } });

    expect(own.key.budget).toMatchObject({ limit: 25, perCallHold: 0.1, resetsAt: periodEnds().month });
    expect(small.key.budget).toMatchObject({ limit: 0.2, perCallHold: 0.2, resetsAt: null });
  });
});

describe('bad budgets', () => {
  const userId = 'someone';
  it.each([
    ['a limit of 0', { limit: 0, period: 'day' }, 'budget.limit', 'more than 0'],
    ['a negative limit', { limit: -1, period: 'day' }, 'budget.limit', 'more than 0'],
    ['a limit over 1,000,000 USD', { limit: 1_000_001, period: 'day' }, 'budget.limit', 'at most 1000000'],
    ['a limit of 7 decimals', { limit: 0.0000001, period: 'day' }, 'budget.limit', 'at most 6 decimals'],
    ['a limit as a string', { limit: '25', period: 'day' }, 'budget.limit', 'expected number'],
    ['an unknown period', { limit: 25, period: 'week' }, 'budget.period', ''],
    ['a hold of 0', { limit: 25, period: 'day', perCallHold: 0 }, 'budget.perCallHold', 'more than 0'],
    [
      'a hold of 7 decimals',
      { limit: 25, period: 'day', perCallHold: 0.1234567 },
      'budget.perCallHold',
      'at most 6 decimals',
    ],
    [
      'a hold above the limit',
      { limit: 1, period: 'day', perCallHold: 1.5 },
      'budget.perCallHold',
      'at most the limit',
    ],
    ['an unknown field', { limit: 25, period: 'day', currency: 'EUR' }, 'budget.currency', 'unknown field'],
    ['null on create', null, 'budget', 'omit the field'],
  ])('refuses %s with ok:false invalid_event naming the field', async (_case, budget, path, why) => {
    const answer = await invoke({ action: 'create', userId, budget });

    expect(answer).toEqual({
      ok: false,
      error: { code: 'invalid_event', message: expect.stringContaining(`${path}: `) },
    });
    expect(answer.error?.message).toContain(why);
    expect(auditLines()).toEqual([expect.objectContaining({ action: 'invalid', outcome: 'invalid_event' })]);
  });

  it('refuses the same on update, and writes nothing for a refused budget', async () => {
    const owner = await newUser();
    const { key } = await newKey(owner);
    const [keysBefore, budgetsBefore] = [(await scanApiKeys(tables)).length, (await scanBudgets()).length];

    const refused = await invoke({
      action: 'update',
      userId: owner,
      keyId: key.keyId,
      budget: { limit: 1, period: 'day', perCallHold: 2 },
    });
    await invoke({ action: 'create', userId: owner, budget: { limit: 0.5000001, period: 'day' } });

    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
    expect(refused.error?.message).toContain('budget.perCallHold: ');
    expect((await scanApiKeys(tables)).length).toBe(keysBefore);
    expect((await scanBudgets()).length).toBe(budgetsBefore);
    const unchanged = ok(await invoke({ action: 'get', userId: owner, keyId: key.keyId }));
    expect((unchanged.key as KeyMetadata).budget).toBeNull();
  });
});

describe('update, usage and rotate', () => {
  it('sets a budget, changes it, and clears it with null, auditing each', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId);

    const set = ok(
      await invoke({ action: 'update', userId, keyId: key.keyId, budget: { limit: 10, period: 'month' } }),
    );
    expect((set.key as KeyMetadata).budget).toMatchObject({ limit: 10, period: 'month', perCallHold: 0.25 });
    expect(auditLines()).toEqual([
      expect.objectContaining({ action: 'update', key_ids: [key.keyId], outcome: 'ok' }),
    ]);

    const changed = ok(
      await invoke({
        action: 'update',
        userId,
        keyId: key.keyId,
        budget: { limit: 2.5, period: 'day', perCallHold: 0.05 },
      }),
    );
    expect((changed.key as KeyMetadata).budget).toMatchObject({
      limit: 2.5,
      period: 'day',
      perCallHold: 0.05,
    });

    const cleared = ok(await invoke({ action: 'update', userId, keyId: key.keyId, budget: null }));
    expect((cleared.key as KeyMetadata).budget).toBeNull();
  });

  it('shows the budget in usage and passes it on to a rotated key', async () => {
    const userId = await newUser();
    const { key } = await newKey(userId, { budget: { limit: 3, period: 'total', perCallHold: 1 } });

    const usage = ok(await invoke({ action: 'usage', userId })).usage as KeyUsage[];
    expect(usage).toEqual([
      expect.objectContaining({
        keyId: key.keyId,
        budget: {
          limit: 3,
          period: 'total',
          perCallHold: 1,
          spent: 0,
          held: 0,
          remaining: 3,
          resetsAt: null,
        },
        refusing: null,
      }),
    ]);

    const rotated = ok(await invoke({ action: 'rotate', userId, keyId: key.keyId, graceSeconds: 60 }));
    expect((rotated.key as KeyMetadata).budget).toEqual(key.budget);
    expect((rotated.retired as KeyMetadata[]).map((retired) => retired.budget)).toEqual([key.budget]);
    const budgets = (await scanBudgets()).filter((budget) => budget.user_id === userId);
    expect(budgets).toHaveLength(1);
  });
});
