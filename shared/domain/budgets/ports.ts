/**
 * What spend budgets need from a store (SPEC §5b). Every write is one conditional UpdateItem
 * on the budget item whose condition names the hold it moves, so a write applied twice (an
 * SDK retry after a late answer) finds its own effect and changes nothing more.
 */
import type { BudgetItem, BudgetPeriod } from './model.js';
import type { Micros } from './money.js';

/** A hold as one write takes it: in the period the caller believes current (`fresh`: a new one). */
export interface HoldPlan {
  budgetId: string;
  /** The brain request id: every attempt of one Idempotency-Key holds under the same id. */
  requestId: string;
  amount: Micros;
  period: BudgetPeriod;
  periodStart: string;
  /** The item still counts an older period: this write starts `periodStart` (spent 0, open holds carried). */
  fresh: boolean;
  /** Epoch ms after which the call has surely ended: the hold may then be released by anyone. */
  until: number;
}

/** How a hold ends: the brain's payment (0 when none), whether it blocks the budget, and a foreign payment. */
export interface Settlement {
  budgetId: string;
  requestId: string;
  /** The amount held (the condition: the hold is still open with this amount). */
  held: Micros;
  /** USD paid, added to `spent`. */
  paid: Micros;
  /** An overspend or a non-USD payment: refuse further holds until the period resets. */
  block: boolean;
  /** A payment in another currency, recorded in full (millionths of that currency). */
  foreign?: { currency: string; amount: number };
}

/** An expired hold as the item showed it (the release is conditioned on exactly this entry). */
export interface ExpiredHold {
  requestId: string;
  amount: Micros;
  until: number;
}

/**
 * The most holds one release names. A DynamoDB condition expression allows 300 operators and
 * 4 KB, and each hold adds two comparisons and two ANDs: past ~75 holds the write is refused
 * (ValidationException) every time, so a budget after a burst of crashed or timed-out calls
 * could never be swept again. Releasing the oldest in batches keeps every write valid.
 */
export const MAX_RELEASES_PER_WRITE = 40;

/** A conditional write's result: the item after it, or the item as the refused write found it. */
export type BudgetWrite = { ok: true; item: BudgetItem } | { ok: false; current: BudgetItem | undefined };

/** What a budget's configuration becomes in `update` (the condition: it still is `expected`). */
export interface BudgetReconfiguration {
  budgetId: string;
  expected: { limit: Micros; period: BudgetPeriod; hold: Micros };
  next: { limit: Micros; period: BudgetPeriod; hold: Micros };
  /** When the period changes: the new period's start (spent restarts at 0; open holds stay). */
  periodStart?: string;
}

export interface BudgetStore {
  /** A new budget item, never overwriting one. */
  create(item: BudgetItem): Promise<void>;
  find(budgetId: string): Promise<BudgetItem | undefined>;
  /** Strongly consistent reads of many budgets (missing ones left out). */
  findMany(budgetIds: readonly string[]): Promise<BudgetItem[]>;
  /** Take `plan.amount` from what remains, only if it fits and no hold of this request is open. */
  hold(plan: HoldPlan): Promise<BudgetWrite>;
  /** The request's open hold stands until `until` (a repeat of an Idempotency-Key in doubt). */
  extendHold(budgetId: string, requestId: string, until: number): Promise<BudgetWrite>;
  /** Close the hold: `spent += paid`, the hold given back. Refused when it is not open any more. */
  settle(settlement: Settlement): Promise<BudgetWrite>;
  /** Give back holds whose time has passed (each only if still open as seen; at most MAX_RELEASES_PER_WRITE). */
  releaseExpired(budgetId: string, holds: readonly ExpiredHold[]): Promise<BudgetWrite>;
  /** Change limit, period or per-call hold, keeping the derived amounts exact. */
  reconfigure(change: BudgetReconfiguration): Promise<BudgetWrite>;
}
