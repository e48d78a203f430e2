/**
 * What a budget item means at an instant (SPEC §5b): which period counts, what is spent,
 * held and remaining once holds past their time are given back, and the views ops and
 * headers show. Pure functions of the stored item and the clock.
 */
import { periodEndOf, periodStartOf } from '../keys/limits.js';
import type { BudgetItem, BudgetPeriod } from './model.js';
import { formatUsd, type Micros, micros, toUsd } from './money.js';
import type { ExpiredHold } from './ports.js';

/** The period a write at `now` counts in: the clock's, or the item's own if later (another clock ran ahead). */
export function currentPeriodStart(
  item: Pick<BudgetItem, 'period_start'>,
  period: BudgetPeriod,
  now: Date,
): string {
  const byClock = periodStartOf(now, period);
  // Period starts are ISO-like strings, compared as text (not numbers).
  return [item.period_start, byClock].sort().at(-1) ?? byClock;
}

/** Open holds whose time has passed: their calls surely ended without a settlement (a crash, a lost answer). */
export function expiredHoldsOf(item: BudgetItem, nowMs: number): ExpiredHold[] {
  return Object.entries(item.holds ?? {})
    .filter(([, entry]) => entry.u <= nowMs)
    .map(([requestId, entry]) => ({ requestId, amount: micros(entry.a), until: entry.u }));
}

/** The budget as the next hold would find it, expired holds given back and a new period started. */
export interface BudgetState {
  limit: Micros;
  period: BudgetPeriod;
  perCallHold: Micros;
  periodStart: string;
  spent: Micros;
  held: Micros;
  remaining: Micros;
  /** Refused until the period resets (an overspend or a non-USD payment in it). */
  blocked: boolean;
  /** When the period ends; undefined for `total`. */
  resetsAt: Date | undefined;
}

export function budgetStateOf(item: BudgetItem, now: Date): BudgetState {
  const expired = expiredHoldsOf(item, now.getTime()).reduce((sum, hold) => sum + hold.amount, 0);
  const periodStart = currentPeriodStart(item, item.budget_period, now);
  const rolled = periodStart !== item.period_start;
  const held = item.held - expired;
  const spent = rolled ? 0 : item.spent;
  return {
    limit: micros(item.budget_limit),
    period: item.budget_period,
    perCallHold: micros(item.per_call_hold),
    periodStart,
    spent: micros(spent),
    held: micros(held),
    remaining: micros(rolled ? item.unheld + expired : item.remaining + expired),
    blocked: !rolled && item.blocked_period !== undefined && item.blocked_period === item.period_start,
    resetsAt: periodEndOf(periodStart, item.budget_period),
  };
}

/** SPEC §5b's view for metadata and `usage`: USD numbers (6 decimals at most). */
export interface BudgetView {
  limit: number;
  period: BudgetPeriod;
  perCallHold: number;
  spent: number;
  held: number;
  /** May be negative after an overspend (the key is then refused until the period resets). */
  remaining: number;
  /** When the period ends (ISO); null for `total`. */
  resetsAt: string | null;
}

export function budgetViewOf(item: BudgetItem, now: Date): BudgetView {
  const state = budgetStateOf(item, now);
  return {
    limit: toUsd(state.limit),
    period: state.period,
    perCallHold: toUsd(state.perCallHold),
    spent: toUsd(state.spent),
    held: toUsd(state.held),
    remaining: toUsd(state.remaining),
    resetsAt: state.resetsAt ? state.resetsAt.toISOString() : null,
  };
}

/** The answer headers' numbers (SPEC §3: `X-Budget-*`), from the item a write of this call returned. */
export interface BudgetStatus {
  limit: Micros;
  /** Absent when the call made no budget write (a replay, a refusal before the hold). */
  remaining?: Micros;
  resetSeconds?: number;
}

const secondsUntil = (end: Date, now: Date): number =>
  Math.max(1, Math.ceil((end.getTime() - now.getTime()) / 1000));

export function budgetStatusOf(item: BudgetItem, now: Date): BudgetStatus {
  const state = budgetStateOf(item, now);
  return {
    limit: state.limit,
    remaining: micros(Math.max(0, state.remaining)),
    ...(state.resetsAt ? { resetSeconds: secondsUntil(state.resetsAt, now) } : {}),
  };
}

/** What a call that made no budget write still knows: the limit and the period's end, from the key. */
export function budgetStatusWithoutWrite(limit: Micros, period: BudgetPeriod, now: Date): BudgetStatus {
  const end = periodEndOf(periodStartOf(now, period), period);
  return { limit, ...(end ? { resetSeconds: secondsUntil(end, now) } : {}) };
}

/** SPEC §3's budget headers: USD as decimal strings, the reset in seconds (none for `total`). */
export function budgetHeadersOf(status: BudgetStatus): Record<string, string> {
  return {
    'X-Budget-Limit': formatUsd(status.limit),
    ...(status.remaining !== undefined ? { 'X-Budget-Remaining': formatUsd(status.remaining) } : {}),
    ...(status.resetSeconds !== undefined ? { 'X-Budget-Reset': String(status.resetSeconds) } : {}),
  };
}
