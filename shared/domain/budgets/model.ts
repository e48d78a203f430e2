/**
 * The stored shape of a spend budget (SPEC §5b; the states of a hold and who moves them:
 * docs/decisions/0010-spend-budgets.md). One item per budget, named by every key that draws
 * on it (a key and its rotated successor share one), in the Budgets table.
 */
import type { QuotaPeriod } from '../keys/model.js';

/** Budgets count per UTC day, calendar month, or the key's whole life, as quotas do. */
export type BudgetPeriod = QuotaPeriod;

/** One call's hold: its amount and until when it stands if nobody settles it (epoch ms). */
export interface HoldEntry {
  /** Micro-dollars held. */
  a: number;
  /** Past this instant the call has surely ended (the brain's time limit has passed): releasable. */
  u: number;
}

/**
 * A budget item. Amounts are integer micro-dollars. Two derived amounts are kept as their own
 * attributes because a condition expression cannot add: `remaining` = limit − spent − held (a
 * hold fits when `remaining >= hold`), and `unheld` = limit − held (what a new period starts
 * with: `remaining = unheld − hold` at a rollover). Every write moves them together.
 */
export interface BudgetItem {
  budget_id: string;
  user_id: string;
  /** The key the budget was created for (rotated keys keep naming the same budget). */
  key_id: string;
  budget_limit: number;
  budget_period: BudgetPeriod;
  per_call_hold: number;
  /** The period counted in `spent`: `YYYY-MM-DD`, `YYYY-MM` or `total`. */
  period_start: string;
  spent: number;
  held: number;
  unheld: number;
  remaining: number;
  /** Open holds by the brain request id they were taken for. */
  holds: Record<string, HoldEntry>;
  /** The period in which an overspend or a non-USD payment blocked the budget (until it resets). */
  blocked_period?: string;
  /** Micro-dollars paid beyond the holds, over the budget's life. */
  overspent?: number;
  /** Payments in other currencies, recorded in full: currency → millionths of that currency. */
  foreign_paid: Record<string, number>;
  created_at: string;
}

/** What a key item records of its budget: the id, and copies of its configuration as hints. */
export interface KeyBudgetRef {
  budgetId: string;
  limit: number;
  period: BudgetPeriod;
  hold: number;
}
