/**
 * What a budget item means at an instant (SPEC §5b): the period that counts, expired holds
 * given back, the block of an overspend, and the view and headers built from it. Items are
 * written by hand with their derived amounts (remaining = limit − spent − held, unheld =
 * limit − held) as the store keeps them.
 */
import { describe, expect, it } from 'vitest';
import type { BudgetItem, HoldEntry } from '../../../../shared/domain/budgets/model.js';
import { micros } from '../../../../shared/domain/budgets/money.js';
import {
  budgetHeadersOf,
  budgetStateOf,
  budgetStatusOf,
  budgetStatusWithoutWrite,
  budgetViewOf,
  currentPeriodStart,
  expiredHoldsOf,
} from '../../../../shared/domain/budgets/state.js';

const NOON = new Date('2030-03-15T12:00:00.000Z');
const NOON_MS = NOON.getTime();
const HOUR = 3_600_000;

/** A budget of $1 a day with holds of $0.10, and the given spend and holds. */
function itemOf(
  spent: number,
  holds: Record<string, HoldEntry>,
  overrides: Partial<BudgetItem> = {},
): BudgetItem {
  const limit = overrides.budget_limit ?? 1_000_000;
  const held = Object.values(holds).reduce((sum, hold) => sum + hold.a, 0);
  return {
    budget_id: 'bud_state',
    user_id: 'u',
    key_id: 'key_1',
    budget_limit: limit,
    budget_period: 'day',
    per_call_hold: 100_000,
    period_start: '2030-03-15',
    spent,
    held,
    unheld: limit - held,
    remaining: limit - spent - held,
    holds,
    foreign_paid: {},
    created_at: '2030-03-01T00:00:00.000Z',
    ...overrides,
  };
}

const open = (hoursLeft: number): HoldEntry => ({ a: 100_000, u: NOON_MS + hoursLeft * HOUR });

describe('budgetStateOf', () => {
  it('counts spend and open holds in the current period', () => {
    const state = budgetStateOf(itemOf(250_000, { r1: open(1), r2: open(2) }), NOON);

    expect(state).toEqual({
      limit: 1_000_000,
      period: 'day',
      perCallHold: 100_000,
      periodStart: '2030-03-15',
      spent: 250_000,
      held: 200_000,
      remaining: 550_000,
      blocked: false,
      resetsAt: new Date('2030-03-16T00:00:00.000Z'),
    });
  });

  it('gives back holds whose time has passed (at their instant exactly), before any write does', () => {
    const item = itemOf(250_000, { gone: open(-1), edge: open(0), live: open(1) });

    expect(
      expiredHoldsOf(item, NOON_MS)
        .map((hold) => hold.requestId)
        .sort(),
    ).toEqual(['edge', 'gone']);
    expect(expiredHoldsOf(item, NOON_MS)[0]).toMatchObject({ amount: 100_000 });
    const state = budgetStateOf(item, NOON);
    expect([state.spent, state.held, state.remaining]).toEqual([250_000, 100_000, 650_000]);
    // A millisecond earlier the hold at the edge still stands.
    expect(budgetStateOf(item, new Date(NOON_MS - 1)).held).toBe(200_000);
  });

  it('starts a new period at the rollover: spent 0, open holds carried, expired ones given back', () => {
    const item = itemOf(600_000, { carried: open(13), expired: open(11) });
    const justBefore = new Date('2030-03-15T23:59:59.999Z');
    const midnight = new Date('2030-03-16T00:00:00.000Z');

    expect(budgetStateOf(item, justBefore)).toMatchObject({
      periodStart: '2030-03-15',
      spent: 600_000,
      held: 100_000,
      remaining: 300_000,
    });
    expect(budgetStateOf(item, midnight)).toMatchObject({
      periodStart: '2030-03-16',
      spent: 0,
      held: 100_000,
      remaining: 900_000,
      resetsAt: new Date('2030-03-17T00:00:00.000Z'),
    });
  });

  it('keeps the period of an item written by a clock that runs ahead', () => {
    const item = itemOf(0, {}, { period_start: '2030-03-16' });

    expect(currentPeriodStart(item, 'day', NOON)).toBe('2030-03-16');
    expect(budgetStateOf(item, NOON)).toMatchObject({ periodStart: '2030-03-16', spent: 0 });
  });

  it('is blocked after an overspend in its period, and no more once the period resets', () => {
    const overspent = itemOf(1_200_000, {}, { blocked_period: '2030-03-15', overspent: 300_000 });

    expect(budgetStateOf(overspent, NOON)).toMatchObject({ blocked: true, remaining: -200_000 });
    expect(budgetStateOf(overspent, new Date('2030-03-16T00:00:00.000Z'))).toMatchObject({
      blocked: false,
      spent: 0,
      remaining: 1_000_000,
    });
    // A block left from an older period does not count (the next write removes it).
    expect(budgetStateOf(itemOf(0, {}, { blocked_period: '2030-03-14' }), NOON).blocked).toBe(false);
  });

  it('counts months by the calendar, across a year', () => {
    const item = itemOf(0, {}, { budget_period: 'month', period_start: '2030-12' });

    expect(budgetStateOf(item, new Date('2030-12-31T23:59:59.000Z')).resetsAt).toEqual(
      new Date('2031-01-01T00:00:00.000Z'),
    );
    expect(
      budgetStateOf(
        itemOf(300_000, {}, { budget_period: 'month', period_start: '2030-12' }),
        new Date('2031-01-01T00:00:00.000Z'),
      ),
    ).toMatchObject({
      periodStart: '2031-01',
      spent: 0,
      remaining: 1_000_000,
    });
  });

  it('never resets a total budget', () => {
    const item = itemOf(700_000, { r: open(1) }, { budget_period: 'total', period_start: 'total' });
    const later = new Date('2040-01-01T00:00:00.000Z');

    expect(budgetStateOf(item, later)).toMatchObject({
      periodStart: 'total',
      spent: 700_000,
      held: 0,
      remaining: 300_000,
      resetsAt: undefined,
    });
  });
});

describe('budgetViewOf', () => {
  it('shows USD numbers and when the period ends', () => {
    expect(budgetViewOf(itemOf(62_500, { r1: open(1) }, { budget_limit: 25_000_000 }), NOON)).toEqual({
      limit: 25,
      period: 'day',
      perCallHold: 0.1,
      spent: 0.0625,
      held: 0.1,
      remaining: 24.8375,
      resetsAt: '2030-03-16T00:00:00.000Z',
    });
  });

  it('shows a negative remaining after an overspend, and null resetsAt for total', () => {
    const view = budgetViewOf(
      itemOf(1_500_000, {}, { budget_period: 'total', period_start: 'total', blocked_period: 'total' }),
      NOON,
    );
    expect(view).toMatchObject({ spent: 1.5, remaining: -0.5, resetsAt: null });
  });
});

describe('budgetStatusOf and the headers', () => {
  it('reports what remains (never below 0) and the seconds to the reset', () => {
    const status = budgetStatusOf(itemOf(1_200_000, {}, { blocked_period: '2030-03-15' }), NOON);

    expect(status).toEqual({ limit: 1_000_000, remaining: 0, resetSeconds: 12 * 3600 });
    expect(budgetHeadersOf(status)).toEqual({
      'X-Budget-Limit': '1.000000',
      'X-Budget-Remaining': '0.000000',
      'X-Budget-Reset': '43200',
    });
  });

  it('rounds the reset up to a whole second, at least 1', () => {
    const item = itemOf(0, {});
    expect(budgetStatusOf(item, new Date('2030-03-15T23:59:59.001Z')).resetSeconds).toBe(1);
    expect(budgetStatusOf(item, new Date('2030-03-15T23:59:58.500Z')).resetSeconds).toBe(2);
  });

  it('has no reset header for a total budget', () => {
    const status = budgetStatusOf(
      itemOf(62_500, {}, { budget_period: 'total', period_start: 'total' }),
      NOON,
    );

    expect(budgetHeadersOf(status)).toEqual({
      'X-Budget-Limit': '1.000000',
      'X-Budget-Remaining': '0.937500',
    });
  });

  it('without a write of its own a call shows the limit and the reset, not a remaining amount', () => {
    const status = budgetStatusWithoutWrite(micros(700_000), 'day', NOON);

    expect(status).toEqual({ limit: 700_000, resetSeconds: 43_200 });
    expect(budgetHeadersOf(status)).toEqual({ 'X-Budget-Limit': '0.700000', 'X-Budget-Reset': '43200' });
    expect(budgetHeadersOf(budgetStatusWithoutWrite(micros(700_000), 'total', NOON))).toEqual({
      'X-Budget-Limit': '0.700000',
    });
  });
});
