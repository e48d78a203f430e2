/**
 * The request path's side of a spend budget (SPEC §5b, docs/decisions/0010-spend-budgets.md):
 * before the brain is invoked a call's hold is taken from what remains, in one conditional
 * write; when the call ends the hold is settled from the brain's payment or given back.
 * Expected outcomes are values; a store failure while holding throws (the caller fails closed,
 * the brain is not invoked; the store has already re-sent a hold whose outcome was unknown).
 * A settlement is retried a few times, because money the brain paid must be counted; each
 * write names its hold, so a retry that finds its own effect changes nothing more, and is
 * reported (metric, log line) once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { periodStartOf } from '../keys/limits.js';
import { ExpiringMemory } from '../keys/refusal-cache.js';
import type { LogSink } from '../ports.js';
import type { BudgetItem, BudgetPeriod, KeyBudgetRef } from './model.js';
import { formatUsd, type Micros, micros, paymentMicros } from './money.js';
import {
  type BudgetStore,
  type BudgetWrite,
  type HoldPlan,
  MAX_RELEASES_PER_WRITE,
  type Settlement,
} from './ports.js';
import {
  type BudgetStatus,
  budgetStateOf,
  budgetStatusOf,
  currentPeriodStart,
  expiredHoldsOf,
} from './state.js';

/** Who holds: for the log lines ops query (spend per key). */
export interface HoldOwner {
  keyId: string;
  userId: string;
}

/** An open hold of this call, to settle or release. */
export interface HeldBudget extends HoldOwner {
  budgetId: string;
  requestId: string;
  amount: Micros;
  /** Epoch ms the hold stands until: before it, nobody but this call closes it. */
  until: number;
}

export type HoldOutcome =
  | { ok: true; hold: HeldBudget; status: BudgetStatus }
  /** The hold does not fit (or the budget is blocked): 429 `budget_exceeded`. */
  | { ok: false; status: BudgetStatus; retryAfterSeconds?: number };

/** The brain's payment, as the contract carries it. */
export interface BrainPayment {
  actual_amount: number;
  currency: string;
}

export interface BudgetTelemetry {
  /** A call refused because its hold did not fit. */
  refused(): void;
  /** USD a settlement added to a budget's spent (micro-dollars). */
  settled(paid: Micros): void;
  /** The brain paid more than the hold it was given (micro-dollars beyond it). */
  overspent(excess: Micros): void;
  /** The brain paid in a currency other than USD. */
  foreignCurrency(): void;
  /** A settlement could not be written; its hold is given back when its time passes. */
  settlementFailed(): void;
}

export interface BudgetLedgerOptions {
  store: BudgetStore;
  logger: Pick<LogSink, 'info' | 'warn' | 'error'>;
  telemetry: BudgetTelemetry;
  clock?: () => number;
  /** Waits between settlement attempts (their count is this list's length + 1). */
  settleRetryDelaysMs?: readonly number[];
}

/** Holds per call: the key's hint, a correction from the refused item, a rollover; a sweep adds one. */
const MAX_HOLD_WRITES = 4;
const DEFAULT_SETTLE_RETRY_DELAYS_MS = [50, 200, 800] as const;
/**
 * How far another container's clock may run ahead of this one's: a hold found closed this
 * long before its `until` cannot have been swept (sweeps take only holds past their time).
 */
const SWEEP_CLOCK_MARGIN_MS = 1_000;
const REMEMBERED_BUDGETS = 10_000;

/** The budget named by a key item is missing: a broken reference, refused (fail closed). */
export class BudgetMissingError extends Error {
  override readonly name = 'BudgetMissingError';
}

interface KnownBudget {
  period: BudgetPeriod;
  periodStart: string;
  amount: Micros;
}

function planFrom(
  known: KnownBudget,
  budgetId: string,
  requestId: string,
  until: number,
  now: Date,
): HoldPlan {
  const periodStart = currentPeriodStart({ period_start: known.periodStart }, known.period, now);
  return {
    budgetId,
    requestId,
    amount: known.amount,
    period: known.period,
    periodStart,
    fresh: periodStart !== known.periodStart,
    until,
  };
}

const knownOf = (item: BudgetItem): KnownBudget => ({
  period: item.budget_period,
  periodStart: item.period_start,
  amount: micros(item.per_call_hold),
});

const samePlan = (a: HoldPlan, b: HoldPlan) =>
  a.amount === b.amount && a.period === b.period && a.periodStart === b.periodStart && a.fresh === b.fresh;

export function createBudgetLedger(options: BudgetLedgerOptions) {
  const { store, logger, telemetry } = options;
  const clock = options.clock ?? Date.now;
  const retryDelays = options.settleRetryDelaysMs ?? DEFAULT_SETTLE_RETRY_DELAYS_MS;
  /** Each budget's period and hold as this container last wrote it: what the next hold expects. */
  const known = new ExpiringMemory<KnownBudget>({ maxEntries: REMEMBERED_BUDGETS });

  /** Give back holds past their time; best effort (the next call tries again). */
  async function sweep(item: BudgetItem, now: number, except?: string): Promise<BudgetItem | undefined> {
    // The oldest first, as many as one write can name; a later call sweeps the rest.
    const expired = expiredHoldsOf(item, now)
      .filter((hold) => hold.requestId !== except)
      .sort((a, b) => a.until - b.until)
      .slice(0, MAX_RELEASES_PER_WRITE);
    if (expired.length === 0) return undefined;
    try {
      const written = await store.releaseExpired(item.budget_id, expired);
      logger.warn('expired budget holds released', {
        budget_id: item.budget_id,
        holds: expired.length,
        released_usd: formatUsd(micros(expired.reduce((sum, hold) => sum + hold.amount, 0))),
      });
      return written.ok ? written.item : written.current;
    } catch (error) {
      logger.warn('expired budget holds not released', {
        budget_id: item.budget_id,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
      return undefined;
    }
  }

  function held(
    owner: HoldOwner,
    item: BudgetItem,
    requestId: string,
    until: number,
    now: Date,
  ): HoldOutcome {
    const entry = item.holds[requestId];
    return {
      ok: true,
      hold: {
        ...owner,
        budgetId: item.budget_id,
        requestId,
        amount: micros(entry ? entry.a : item.per_call_hold),
        until: entry ? entry.u : until,
      },
      status: budgetStatusOf(item, now),
    };
  }

  /** The settlement counted: the metric and the one log line per settled call. */
  function reportSettled(
    settlement: Settlement,
    owner: HoldOwner,
    item: BudgetItem,
    now: Date,
  ): BudgetStatus {
    known.set(settlement.budgetId, knownOf(item), Number.POSITIVE_INFINITY);
    const state = budgetStateOf(item, now);
    telemetry.settled(settlement.paid);
    // One line per settled call: the dashboard's spend per key and the saved query read it.
    logger.info('budget settled', {
      request_id: settlement.requestId,
      budget_id: settlement.budgetId,
      key_id: owner.keyId,
      user_id: owner.userId,
      held_usd: formatUsd(settlement.held),
      paid_usd: formatUsd(settlement.paid),
      paid_micros: settlement.paid,
      spent_usd: formatUsd(state.spent),
      remaining_usd: formatUsd(state.remaining),
    });
    return budgetStatusOf(item, now);
  }

  async function write(settlement: Settlement, hold: HeldBudget): Promise<BudgetStatus | undefined> {
    let earlierSendFailed = false;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const written = await store.settle(settlement);
        const now = new Date(clock());
        if (written.ok) return reportSettled(settlement, hold, written.item, now);
        const current = written.current;
        // The hold is gone before its time, after a send of this settlement failed: only that
        // send (applied, its answer late or lost) can have closed it, so it is counted here.
        if (
          earlierSendFailed &&
          current &&
          !current.holds[settlement.requestId] &&
          now.getTime() < hold.until - SWEEP_CLOCK_MARGIN_MS
        ) {
          return reportSettled(settlement, hold, current, now);
        }
        // Closed otherwise: its time passed and it was given back (perhaps after an earlier send
        // of this settlement was applied, which can then no longer be told apart).
        logger.warn('budget hold already closed', {
          request_id: settlement.requestId,
          budget_id: settlement.budgetId,
          key_id: hold.keyId,
        });
        return current ? budgetStatusOf(current, now) : undefined;
      } catch (error) {
        earlierSendFailed = true;
        const delay = retryDelays[attempt];
        if (delay === undefined) {
          telemetry.settlementFailed();
          logger.error('budget settlement not recorded', {
            request_id: settlement.requestId,
            budget_id: settlement.budgetId,
            key_id: hold.keyId,
            user_id: hold.userId,
            paid_usd: formatUsd(settlement.paid),
            error_name: error instanceof Error ? error.name : 'unknown',
          });
          return undefined;
        }
        await sleep(delay);
      }
    }
  }

  return {
    /**
     * Take this call's hold (SPEC §5b). `until`: when the call has surely ended, even if this
     * function dies now (its deadline plus the brain's time limit); past it anyone may give
     * the hold back. A hold already open for `requestId` (a repeat of an Idempotency-Key in
     * doubt, or a write applied twice) is the call's own: it is kept and extended.
     */
    async hold(ref: KeyBudgetRef, requestId: string, until: number, owner: HoldOwner): Promise<HoldOutcome> {
      const now = new Date(clock());
      const hint: KnownBudget = known.get(ref.budgetId, now.getTime()) ?? {
        period: ref.period,
        // The key's copy says nothing of the item's period: assume it counts the current one.
        periodStart: periodStartOf(now, ref.period),
        amount: micros(ref.hold),
      };
      let plan = planFrom(hint, ref.budgetId, requestId, until, now);
      let swept = false;
      for (let attempt = 1; attempt <= MAX_HOLD_WRITES; attempt += 1) {
        const written: BudgetWrite = await store.hold(plan);
        if (written.ok) {
          known.set(ref.budgetId, knownOf(written.item), Number.POSITIVE_INFINITY);
          const after = (await sweep(written.item, now.getTime(), requestId)) ?? written.item;
          return held(owner, after, requestId, until, now);
        }
        const current = written.current;
        if (!current) throw new BudgetMissingError(`budget ${ref.budgetId} does not exist`);
        known.set(ref.budgetId, knownOf(current), Number.POSITIVE_INFINITY);
        if (current.holds[requestId]) {
          // Its own hold: a repeat's, or this very write's first send (re-sent by the store
          // while its outcome was unknown, applied with its answer lost).
          const extended = await store.extendHold(ref.budgetId, requestId, until);
          if (extended.ok) return held(owner, extended.item, requestId, until, now);
          if (!extended.current) throw new BudgetMissingError(`budget ${ref.budgetId} does not exist`);
          continue;
        }
        const next = planFrom(knownOf(current), ref.budgetId, requestId, until, now);
        if (!samePlan(plan, next)) {
          plan = next;
          continue;
        }
        // The plan was right: the hold does not fit. Holds of calls that surely ended come back first.
        if (!swept) {
          swept = true;
          if (await sweep(current, now.getTime())) continue;
        }
        telemetry.refused();
        const state = budgetStateOf(current, now);
        logger.info('budget exceeded', {
          budget_id: ref.budgetId,
          key_id: owner.keyId,
          user_id: owner.userId,
          remaining_usd: formatUsd(state.remaining),
          hold_usd: formatUsd(plan.amount),
          blocked: state.blocked,
        });
        const status = budgetStatusOf(current, now);
        return {
          ok: false,
          status,
          ...(status.resetSeconds !== undefined ? { retryAfterSeconds: status.resetSeconds } : {}),
        };
      }
      throw new Error('the budget hold kept failing on a changing budget');
    },

    /**
     * The brain answered: `spent += paid` and the hold given back. A payment above the hold
     * (overspend) or in another currency is recorded in full and blocks the budget until its
     * period resets, with a metric (alarmed in the stack).
     */
    async settle(hold: HeldBudget, payment: BrainPayment | null): Promise<BudgetStatus | undefined> {
      const base = { budgetId: hold.budgetId, requestId: hold.requestId, held: hold.amount };
      if (!payment) return write({ ...base, paid: micros(0), block: false }, hold);
      if (payment.currency !== 'USD') {
        telemetry.foreignCurrency();
        logger.error('brain paid in a currency other than USD', {
          request_id: hold.requestId,
          budget_id: hold.budgetId,
          key_id: hold.keyId,
          currency: payment.currency,
          amount: payment.actual_amount,
        });
        return write(
          {
            ...base,
            paid: micros(0),
            block: true,
            foreign: {
              currency: payment.currency.slice(0, 16),
              amount: paymentMicros(payment.actual_amount),
            },
          },
          hold,
        );
      }
      const paid = paymentMicros(payment.actual_amount);
      const overspend = paid > hold.amount;
      if (overspend) {
        telemetry.overspent(micros(paid - hold.amount));
        logger.error('brain paid more than the hold', {
          request_id: hold.requestId,
          budget_id: hold.budgetId,
          key_id: hold.keyId,
          held_usd: formatUsd(hold.amount),
          paid_usd: formatUsd(paid),
        });
      }
      return write({ ...base, paid, block: overspend }, hold);
    },

    /** The brain surely did not act on this call: the hold comes back whole. */
    release(hold: HeldBudget): Promise<BudgetStatus | undefined> {
      return write(
        {
          budgetId: hold.budgetId,
          requestId: hold.requestId,
          held: hold.amount,
          paid: micros(0),
          block: false,
        },
        hold,
      );
    },
  };
}

export type BudgetLedger = ReturnType<typeof createBudgetLedger>;
