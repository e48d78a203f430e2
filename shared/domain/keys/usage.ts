/**
 * A key's usage as ops see it (keys-admin `usage`): its counters, the rate window and quota
 * period that count at `now`, its budget, and whether its next call would be refused and
 * until when.
 * Everything is read from the stored item with the rules verification writes by (limits.ts,
 * verify.ts): nothing here decides anew what a window, a period or a refusal is. Never the
 * hash or the secret.
 */
import type { BudgetItem } from '../budgets/model.js';
import { type BudgetView, budgetStateOf } from '../budgets/state.js';
import {
  knownLimitsOf,
  type LimitPlan,
  planFor,
  rateCountIn,
  rateWindowEndOf,
  spentLimitOf,
  spentUntil,
} from './limits.js';
import { type KeyMetadata, type QuotaView, quotaViewOf, toKeyMetadata } from './metadata.js';
import type { ApiKeyItem, UserItem } from './model.js';
import { refusalReasonOf } from './verify.js';

/** The fixed rate window that counts at `now`. */
export interface RateWindowView {
  limit: number;
  windowSeconds: number;
  /** Admitted calls counted in this window (0 when none was counted yet). */
  used: number;
  remaining: number;
  /** When this window started (ISO). */
  windowStart: string;
  /** When it ends and the next one starts (ISO). */
  resetsAt: string;
}

export type UsageRefusalReason =
  | 'revoked'
  | 'expired'
  | 'suspended'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'budget_exceeded';

export interface KeyUsage {
  keyId: string;
  name: string | null;
  status: KeyMetadata['status'];
  start: string;
  projectId: string;
  usageCount: number;
  lastUsedAt: string | null;
  /** The current fixed window at `now`; null without a rate limit. */
  rateLimit: RateWindowView | null;
  /** As in the key metadata: used in the current period, and when it resets. */
  quota: QuotaView | null;
  /** As in the key metadata: spent, held and remaining in the current period (SPEC §5b). */
  budget: BudgetView | null;
  /**
   * Why this key's next call would be refused right now, and until when (`refusing` null: it
   * would be admitted; `until` null: the refusal does not end by waiting).
   */
  refusing: { reason: UsageRefusalReason; until: string | null } | null;
  /** Items the key counts on; a sharded key's counters and windows above are its shards' sums. */
  shards: number;
}

function rateWindowViewOf(item: ApiKeyItem, plan: LimitPlan): RateWindowView | null {
  if (!plan.rate || item.rate_limit === undefined) return null;
  const used = rateCountIn(item, plan);
  return {
    limit: item.rate_limit,
    windowSeconds: plan.rate.windowSeconds,
    used,
    remaining: Math.max(0, item.rate_limit - used),
    windowStart: new Date(plan.rate.windowStart * 1000).toISOString(),
    resetsAt: new Date(rateWindowEndOf(plan.rate)).toISOString(),
  };
}

/**
 * A budget the next call's hold would not fit (SPEC §5b), as the hold write decides it: blocked
 * in its period (an overspend or a foreign payment), or less remaining than one call's hold.
 * Until the period ends; never by waiting for a `total` budget.
 */
function budgetRefusalOf(budget: BudgetItem, now: Date): KeyUsage['refusing'] {
  const state = budgetStateOf(budget, now);
  if (!state.blocked && state.remaining >= state.perCallHold) return null;
  return { reason: 'budget_exceeded', until: state.resetsAt ? state.resetsAt.toISOString() : null };
}

/**
 * The request path's order: the key itself (revoked, then suspended, then expired — never ends
 * by waiting), then a spent limit (the quota first: waiting out a window does not help it),
 * then the budget (held by the requests function after the authorizer admitted the call).
 * A user whose status is suspended refuses every key, even one its stamping has not reached.
 */
function refusingOf(
  item: ApiKeyItem,
  userSuspended: boolean,
  plan: LimitPlan,
  budget: BudgetItem | undefined,
  now: Date,
): KeyUsage['refusing'] {
  const reason = refusalReasonOf(userSuspended ? { ...item, user_suspended: true } : item, now);
  if (reason !== undefined && reason !== 'unknown') return { reason, until: null };
  const spent = spentLimitOf(item, plan);
  if (spent) {
    const until = spentUntil(spent.reason, plan);
    return { reason: spent.reason, until: until === undefined ? null : new Date(until).toISOString() };
  }
  return budget ? budgetRefusalOf(budget, now) : null;
}

/**
 * The usage of a key of `user` at `now`: its window, quota and refusal all read from one plan;
 * `budget`: the budget item the key names, as read for this answer. `item`: a sharded key as
 * metadata.ts `countedItemOf` sums its shards (remaining = the whole limit − what they used).
 */
export function toKeyUsage(
  item: ApiKeyItem,
  user: Pick<UserItem, 'status'>,
  now: Date,
  budget?: BudgetItem,
): KeyUsage {
  const metadata = toKeyMetadata(item, now, budget);
  const plan = planFor(knownLimitsOf(item), now);
  return {
    keyId: metadata.keyId,
    name: metadata.name,
    status: metadata.status,
    start: metadata.start,
    projectId: metadata.projectId,
    usageCount: metadata.usageCount,
    lastUsedAt: metadata.lastUsedAt,
    rateLimit: rateWindowViewOf(item, plan),
    quota: quotaViewOf(item, plan),
    budget: metadata.budget,
    refusing: refusingOf(item, user.status === 'suspended', plan, metadata.budget ? budget : undefined, now),
    shards: metadata.shards,
  };
}
