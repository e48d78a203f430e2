/**
 * The budget's invariants over random histories (SPEC §5b), on DynamoDB Local: random
 * sequences of holds (some in bursts that run at once), settlements with random payments up
 * to the hold, releases, calls abandoned in doubt (their holds left to expire), writes whose
 * answer is lost after DynamoDB applied them, sweeps that fail, and clock jumps within a day
 * and across days (day budgets). After every step the stored item is read back and checked:
 * - the payments settled in one period never exceed its limit, and `spent` is exactly their sum;
 * - remaining = limit − spent − held, unheld = limit − held, held = the sum of the open holds ≥ 0;
 * - every open hold is one the history took (none invented, none counted twice);
 * - a refused hold really did not fit (or the budget was blocked), and one that fits is taken.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeldBudget } from '../../shared/domain/budgets/ledger.js';
import type { BudgetItem } from '../../shared/domain/budgets/model.js';
import { micros, toUsd } from '../../shared/domain/budgets/money.js';
import { budgetStateOf, expiredHoldsOf } from '../../shared/domain/budgets/state.js';
import { budgetItemOf, budgetStoreOn, ledgerOn, refOf } from '../support/budgets.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import { type BudgetFault, BudgetFaults, faultyBudgetStore } from '../support/faulty-budgets.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('budget-property');
});
afterAll(async () => tables.drop());

const DAY_MS = 86_400_000;
/** How long a hold stands if nobody settles it. */
const LIFETIME_MS = 10_000;
/** 20:00 UTC, so that a few jumps within a day also cross midnight. */
const START = Date.parse('2031-05-10T20:00:00.000Z');
const owner = { keyId: 'key_property', userId: 'budget-property' };

type Step =
  | { kind: 'hold' }
  | { kind: 'burst'; size: number }
  | { kind: 'settle'; pick: number; share: number; lost: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'abandon'; pick: number }
  | { kind: 'holdLost' }
  | { kind: 'sweepFails'; when: 'before' | 'after' }
  | { kind: 'tick'; ms: number }
  | { kind: 'nextDay' };

const steps: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'hold' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('burst' as const), size: fc.integer({ min: 2, max: 8 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      // A payment of 0 … the whole hold (the brain honours its spend limit).
      share: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
      lost: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abandon' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'holdLost' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('sweepFails' as const),
      when: fc.constantFrom('before' as const, 'after' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.integer({ min: 0, max: 2 * LIFETIME_MS }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'nextDay' as const }) },
);

const budgets = fc.record({
  hold: fc.constantFrom(1, 50_000, 100_000, 333_333),
  holds: fc.integer({ min: 1, max: 6 }),
  /** Micro-dollars beyond whole holds (a limit need not be a multiple of the hold). */
  leftover: fc.nat({ max: 99_999 }),
});

async function run(config: { hold: number; holds: number; leftover: number }, history: Step[]) {
  const real = budgetStoreOn(tables);
  const hold = micros(config.hold);
  const limit = micros(config.holds * config.hold + Math.min(config.leftover, config.hold - 1));
  let now = START;
  const item = budgetItemOf({ limit, hold, period: 'day', now: new Date(now) });
  await real.create(item);
  const faults = new BudgetFaults();
  const ledger = ledgerOn(faultyBudgetStore(real, faults), { clock: () => now });

  /** Holds the history knows it took and may still settle. */
  let open: HeldBudget[] = [];
  /** Every request id whose hold may be in the store: taken, abandoned, or written with its answer lost. */
  const taken = new Set<string>();
  /** USD settled in each period, as the item counted it. */
  const settled = new Map<string, number>();
  let sequence = 0;
  const nextId = () => {
    sequence += 1;
    return `p-${sequence}`;
  };
  const pick = (index: number) => (open.length === 0 ? undefined : open[index % open.length]);
  const read = async (): Promise<BudgetItem> => {
    const stored = await real.find(item.budget_id);
    if (!stored) throw new Error('budget missing');
    return stored;
  };

  async function holdOne(requestId: string, fault?: BudgetFault) {
    faults.arm(...(fault ? [fault] : []));
    const before = await read();
    taken.add(requestId);
    let outcome: Awaited<ReturnType<typeof ledger.hold>>;
    try {
      outcome = await ledger.hold(refOf(item), requestId, now + LIFETIME_MS, owner);
    } catch (error) {
      // A hold applied with its answer lost: the call failed closed; the hold expires by itself.
      expect(fault?.call).toBe('budgets.hold');
      return error;
    }
    if (outcome.ok) {
      open.push(outcome.hold);
      expect(outcome.hold.amount).toBe(hold);
    } else if (!fault) {
      // Refused without a fault: it did not fit (expired holds already counted as given back).
      const state = budgetStateOf(before, new Date(now));
      expect(state.blocked || state.remaining < hold).toBe(true);
    }
    return outcome;
  }

  async function check() {
    const stored = await read();
    const openSum = Object.values(stored.holds).reduce((sum, entry) => sum + entry.a, 0);
    expect(stored.held).toBe(openSum);
    expect(stored.held).toBeGreaterThanOrEqual(0);
    expect(stored.unheld).toBe(limit - stored.held);
    expect(stored.remaining).toBe(limit - stored.spent - stored.held);
    expect(stored.spent).toBe(settled.get(stored.period_start) ?? 0);
    for (const amount of settled.values()) expect(amount).toBeLessThanOrEqual(limit);
    expect(stored.spent + stored.held).toBeLessThanOrEqual(limit);
    for (const requestId of Object.keys(stored.holds)) expect(taken.has(requestId)).toBe(true);
    for (const entry of Object.values(stored.holds)) expect(entry.a).toBe(hold);
    // What a client is shown agrees: nothing held beyond the limit, no negative amounts.
    const state = budgetStateOf(stored, new Date(now));
    expect(state.held).toBeGreaterThanOrEqual(0);
    expect(state.remaining).toBeGreaterThanOrEqual(0);
    expect(toUsd(state.remaining)).toBeLessThanOrEqual(toUsd(limit));
  }

  for (const step of history) {
    switch (step.kind) {
      case 'hold': {
        const before = budgetStateOf(await read(), new Date(now));
        const outcome = await holdOne(nextId());
        // A hold that fits is taken (the sweep of expired holds makes room first).
        if (!before.blocked && before.remaining >= hold) expect(outcome).toMatchObject({ ok: true });
        break;
      }
      case 'burst': {
        faults.arm();
        const before = await read();
        const state = budgetStateOf(before, new Date(now));
        const fits = state.blocked ? 0 : Math.floor(Math.max(0, state.remaining) / hold);
        const requestIds = Array.from({ length: step.size }, nextId);
        for (const requestId of requestIds) taken.add(requestId);
        const outcomes = await Promise.all(
          requestIds.map((requestId) => ledger.hold(refOf(item), requestId, now + LIFETIME_MS, owner)),
        );
        for (const outcome of outcomes) if (outcome.ok) open.push(outcome.hold);
        const admitted = outcomes.filter((outcome) => outcome.ok).length;
        // Never more than fit; exactly as many when no expired hold is in the way (sweeps race each other).
        expect(admitted).toBeLessThanOrEqual(Math.min(step.size, fits));
        if (expiredHoldsOf(before, now).length === 0) expect(admitted).toBe(Math.min(step.size, fits));
        break;
      }
      case 'holdLost':
        await holdOne(nextId(), { call: 'budgets.hold', nth: 1, when: 'after' });
        break;
      case 'sweepFails':
        await holdOne(nextId(), { call: 'budgets.releaseExpired', nth: 1, when: step.when });
        break;
      case 'settle': {
        const target = pick(step.pick);
        if (!target) break;
        open = open.filter((candidate) => candidate !== target);
        const paid = Math.floor(target.amount * step.share);
        const before = await read();
        const stillOpen = before.holds[target.requestId]?.a === target.amount;
        faults.arm(
          ...(step.lost ? [{ call: 'budgets.settle' as const, nth: 1, when: 'after' as const }] : []),
        );
        await ledger.settle(target, { actual_amount: toUsd(micros(paid)), currency: 'USD' });
        // Counted once, in the period the item counts, if the hold was still open (not given back after its time).
        if (stillOpen) settled.set(before.period_start, (settled.get(before.period_start) ?? 0) + paid);
        break;
      }
      case 'release': {
        const target = pick(step.pick);
        if (!target) break;
        open = open.filter((candidate) => candidate !== target);
        faults.arm();
        await ledger.release(target);
        break;
      }
      case 'abandon': {
        // The call is in doubt or its handler died: nobody settles this hold; it expires.
        const target = pick(step.pick);
        if (target) open = open.filter((candidate) => candidate !== target);
        break;
      }
      case 'tick':
        now += step.ms;
        break;
      case 'nextDay':
        now += DAY_MS;
        break;
    }
    await check();
  }

  // In the end every hold comes back: settle or abandon what is open, let time pass, sweep.
  faults.arm();
  for (const target of open) await ledger.release(target);
  now += LIFETIME_MS + 1;
  const sweeper = await ledger.hold(refOf(item), nextId(), now + LIFETIME_MS, owner);
  if (sweeper.ok) await ledger.release(sweeper.hold);
  const final = await read();
  expect(final.holds).toEqual({});
  expect(final).toMatchObject({ held: 0, unheld: limit, remaining: limit - final.spent });
}

describe('the budget under random histories of calls, faults and periods', () => {
  it('never pays beyond the limit in a period, and keeps remaining = limit − spent − held at every step', async () => {
    await fc.assert(
      fc.asyncProperty(budgets, fc.array(steps, { minLength: 5, maxLength: 30 }), async (config, history) => {
        await run(config, history);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
