/**
 * A spend budget as keys-admin configures it (SPEC §5b, §6): the configuration an event's
 * `budget` makes, the per-call hold's default, and the fresh item `create` and `update` write.
 *
 * The default per-call hold is the stage's `BUDGET_DEFAULT_HOLD_USD`, else 0.50 (the reference
 * brain's per-request ceiling), capped at the limit: a call can never need more than the whole
 * budget, so a $0.20 budget holds $0.20 per call and admits one call at a time instead of none.
 */
import { randomBytes } from 'node:crypto';
import { toBase62 } from '../keys/format.js';
import { periodStartOf } from '../keys/limits.js';
import type { BudgetItem, BudgetPeriod, KeyBudgetRef } from './model.js';
import { MAX_BUDGET_MICROS, type Micros, micros, parseUsd } from './money.js';

/** The per-call hold when neither the event nor the stage names one (USD). */
export const FALLBACK_PER_CALL_HOLD_USD = 0.5;

/** A budget's configuration in micro-dollars: what the budget item and the key's copies hold. */
export interface BudgetConfig {
  limit: Micros;
  period: BudgetPeriod;
  hold: Micros;
}

/** A budget as an event sets it, validated at the edge (limit > 0, perCallHold ≤ limit). */
export interface BudgetSetting {
  limit: Micros;
  period: BudgetPeriod;
  perCallHold?: Micros;
}

/**
 * The stage's default hold (`BUDGET_DEFAULT_HOLD_USD`) as micro-dollars, or the fallback.
 * Throws on a value that is not an exact positive amount, so a bad setting fails the cold start.
 */
export function defaultHoldOf(usd: number | undefined): Micros {
  const hold = parseUsd(usd ?? FALLBACK_PER_CALL_HOLD_USD);
  if (hold === undefined || hold <= 0 || hold > MAX_BUDGET_MICROS) {
    throw new RangeError(
      `the default per-call hold must be a positive USD amount of at most 6 decimals, got ${usd}`,
    );
  }
  return hold;
}

/** The configuration a setting makes: its own perCallHold, else the default capped at the limit. */
export function budgetConfigOf(setting: BudgetSetting, defaultHold: Micros): BudgetConfig {
  return {
    limit: setting.limit,
    period: setting.period,
    hold: setting.perCallHold ?? micros(Math.min(defaultHold, setting.limit)),
  };
}

/** The configuration a budget item holds now. */
export const configOfBudget = (item: BudgetItem): BudgetConfig => ({
  limit: micros(item.budget_limit),
  period: item.budget_period,
  hold: micros(item.per_call_hold),
});

export const sameConfig = (a: BudgetConfig, b: BudgetConfig): boolean =>
  a.limit === b.limit && a.period === b.period && a.hold === b.hold;

/** What a key item records of the budget it draws on. */
export const budgetRefFor = (budgetId: string, config: BudgetConfig): KeyBudgetRef => ({
  budgetId,
  limit: config.limit,
  period: config.period,
  hold: config.hold,
});

/** `bud_` + 22 base62 chars of fresh randomness (as key ids are made). */
export function newBudgetId(): string {
  return `bud_${toBase62(BigInt(`0x${randomBytes(16).toString('hex')}`), 22)}`;
}

/** A new budget: counting from the current period, nothing spent or held, all of it remaining. */
export function freshBudgetItem(input: {
  budgetId: string;
  userId: string;
  keyId: string;
  config: BudgetConfig;
  now: Date;
}): BudgetItem {
  const { config, now } = input;
  return {
    budget_id: input.budgetId,
    user_id: input.userId,
    key_id: input.keyId,
    budget_limit: config.limit,
    budget_period: config.period,
    per_call_hold: config.hold,
    period_start: periodStartOf(now, config.period),
    spent: 0,
    held: 0,
    unheld: config.limit,
    remaining: config.limit,
    holds: {},
    foreign_paid: {},
    created_at: now.toISOString(),
  };
}
