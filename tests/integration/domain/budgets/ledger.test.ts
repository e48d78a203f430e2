import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { micros } from '../../../../shared/domain/budgets/money.js';
import { budgetStateOf } from '../../../../shared/domain/budgets/state.js';
import {
  budgetItemOf,
  budgetStoreOn,
  ledgerOn,
  recordingTelemetry,
  refOf,
} from '../../../support/budgets.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';

const owner = { keyId: 'key_budgettest', userId: 'budget-user' };
const HOLD = micros(100_000);

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('budget-ledger');
});
afterAll(async () => {
  await tables.drop();
});

describe('budget ledger on DynamoDB Local', () => {
  it('holds, settles from the payment and gives the rest back', async () => {
    const store = budgetStoreOn(tables);
    const item = budgetItemOf({ limit: micros(1_000_000), hold: HOLD });
    await store.create(item);
    const ledger = ledgerOn(store);

    const held = await ledger.hold(refOf(item), 'req-1', Date.now() + 60_000, owner);
    expect(held.ok).toBe(true);
    if (!held.ok) return;
    expect(held.status.remaining).toBe(900_000);
    const status = await ledger.settle(held.hold, { actual_amount: 0.0123, currency: 'USD' });
    expect(status?.remaining).toBe(1_000_000 - 12_300);

    const stored = await store.find(item.budget_id);
    expect(stored).toMatchObject({
      spent: 12_300,
      held: 0,
      remaining: 987_700,
      unheld: 1_000_000,
      holds: {},
    });
  });

  it('admits exactly the holds that fit, however many calls run at once', async () => {
    const store = budgetStoreOn(tables);
    const item = budgetItemOf({ limit: micros(7 * HOLD), hold: HOLD });
    await store.create(item);
    const ledger = ledgerOn(store);
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        ledger.hold(refOf(item), `req-${index}`, Date.now() + 60_000, owner),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(7);
    const stored = await store.find(item.budget_id);
    expect(stored).toMatchObject({ held: 7 * HOLD, remaining: 0 });
  });

  it('starts a new period carrying the holds still open, and blocks after an overspend until then', async () => {
    const store = budgetStoreOn(tables);
    const yesterday = new Date(Date.now() - 86_400_000);
    const item = budgetItemOf({ limit: micros(1_000_000), hold: HOLD, now: yesterday });
    await store.create(item);
    let now = yesterday.getTime();
    const { seen, telemetry } = recordingTelemetry();
    const ledger = ledgerOn(store, { clock: () => now, telemetry });

    const open = await ledger.hold(refOf(item), 'open', now + 3 * 86_400_000, owner);
    const over = await ledger.hold(refOf(item), 'over', now + 60_000, owner);
    if (!open.ok || !over.ok) throw new Error('holds expected');
    await ledger.settle(over.hold, { actual_amount: 0.3, currency: 'USD' });
    expect(seen.overspent).toBe(1);
    expect((await ledger.hold(refOf(item), 'blocked', now + 60_000, owner)).ok).toBe(false);

    now = Date.now();
    const fresh = await ledger.hold(refOf(item), 'today', now + 60_000, owner);
    expect(fresh.ok).toBe(true);
    const stored = await store.find(item.budget_id);
    if (!stored) throw new Error('budget expected');
    expect(stored).toMatchObject({ spent: 0, held: 2 * HOLD, remaining: 1_000_000 - 2 * HOLD });
    expect(stored.blocked_period).toBeUndefined();
    expect(budgetStateOf(stored, new Date(now)).held).toBe(2 * HOLD);
  });

  it('records a foreign payment in full and blocks; a repeated settlement changes nothing', async () => {
    const store = budgetStoreOn(tables);
    const item = budgetItemOf({ limit: micros(1_000_000), hold: HOLD });
    await store.create(item);
    const ledger = ledgerOn(store);
    const held = await ledger.hold(refOf(item), 'eur', Date.now() + 60_000, owner);
    if (!held.ok) throw new Error('hold expected');
    await ledger.settle(held.hold, { actual_amount: 0.05, currency: 'EUR' });
    await ledger.settle(held.hold, { actual_amount: 0.05, currency: 'EUR' });
    const stored = await store.find(item.budget_id);
    expect(stored).toMatchObject({ spent: 0, held: 0, remaining: 1_000_000, foreign_paid: { EUR: 50_000 } });
    expect(stored?.blocked_period).toBe(stored?.period_start);
  });

  it('gives back holds whose time has passed before refusing a call', async () => {
    const store = budgetStoreOn(tables);
    const item = budgetItemOf({ limit: micros(HOLD), hold: HOLD });
    await store.create(item);
    let now = Date.now();
    const ledger = ledgerOn(store, { clock: () => now });
    expect((await ledger.hold(refOf(item), 'crashed', now + 1_000, owner)).ok).toBe(true);
    expect((await ledger.hold(refOf(item), 'next', now + 1_000, owner)).ok).toBe(false);
    now += 1_001;
    expect((await ledger.hold(refOf(item), 'later', now + 1_000, owner)).ok).toBe(true);
    expect(await store.find(item.budget_id)).toMatchObject({ held: HOLD, remaining: 0 });
  });

  it('reconfigures limit and period keeping the derived amounts exact', async () => {
    const store = budgetStoreOn(tables);
    const item = budgetItemOf({ limit: micros(1_000_000), hold: HOLD });
    await store.create(item);
    const ledger = ledgerOn(store);
    const held = await ledger.hold(refOf(item), 'r', Date.now() + 60_000, owner);
    if (!held.ok) throw new Error('hold expected');
    const same = await store.reconfigure({
      budgetId: item.budget_id,
      expected: { limit: micros(1_000_000), period: 'day', hold: HOLD },
      next: { limit: micros(2_000_000), period: 'day', hold: HOLD },
    });
    expect(same.ok && same.item).toMatchObject({ remaining: 1_900_000, unheld: 1_900_000 });
    const other = await store.reconfigure({
      budgetId: item.budget_id,
      expected: { limit: micros(2_000_000), period: 'day', hold: HOLD },
      next: { limit: micros(500_000), period: 'month', hold: HOLD },
      periodStart: new Date().toISOString().slice(0, 7),
    });
    expect(other.ok && other.item).toMatchObject({
      remaining: 400_000,
      unheld: 400_000,
      held: HOLD,
      spent: 0,
    });
  });
});
