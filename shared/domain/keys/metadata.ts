/** The public key and user views of SPEC §6: every field present, `null` when absent; never the hash or secret. */
import type { BudgetItem } from '../budgets/model.js';
import { type BudgetView, budgetViewOf } from '../budgets/state.js';
import {
  knownLimitsOf,
  type LimitPlan,
  periodEndOf,
  periodStartOf,
  planFor,
  quotaUsedIn,
  type RateLimit,
  windowStartOf,
} from './limits.js';
import type { ApiKeyItem, KeyScopes, KeyStatus, QuotaPeriod, UserItem, UserStatus } from './model.js';
import { shardCountOf, totalsOf } from './shards.js';

/** A key's quota as ops see it: what the current period has used, and when it resets. */
export interface QuotaView {
  limit: number;
  period: QuotaPeriod;
  /** Admitted calls counted in the current period (0 when none was counted yet). */
  used: number;
  /** When the current period ends (ISO); null for `total`, which never resets. */
  resetsAt: string | null;
}

/** Metadata shown to ops: every field present, `null` when absent; never the hash or secret. */
export interface KeyMetadata {
  keyId: string;
  userId: string;
  projectId: string;
  /** Created with an explicit projectId: requests naming another project are refused. */
  projectBound: boolean;
  name: string | null;
  status: KeyStatus | 'expired';
  start: string;
  createdAt: string;
  lastUsedAt: string | null;
  usageCount: number;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
  rateLimit: RateLimit | null;
  quota: QuotaView | null;
  /**
   * The spend budget the key draws on (SPEC §5b), as its budget item shows it now (shared with
   * the key it was rotated from or to); null without a budget.
   */
  budget: BudgetView | null;
  /** The allow-lists the key has (an absent list allows everything); null when it has none. */
  scopes: KeyScopes | null;
  /** Items the key counts on (docs/decisions/0012-sharded-keys.md): 1 for its own item alone. */
  shards: number;
}

export interface UserView {
  userId: string;
  status: UserStatus;
  defaultProjectId: string | null;
  createdAt: string;
}

/** The counters of one limit on a counting item: window (period) start, count, slice, what the slice has left. */
interface Counters {
  start: 'rate_window_start' | 'quota_period_start';
  slice: 'rate_limit' | 'quota_limit';
  free: 'rate_free' | 'quota_free';
}
const RATE_COUNTERS: Counters = { start: 'rate_window_start', slice: 'rate_limit', free: 'rate_free' };
const QUOTA_COUNTERS: Counters = { start: 'quota_period_start', slice: 'quota_limit', free: 'quota_free' };

/**
 * What a sharded key has used of `limit` in its current window (period): the latest window any
 * shard counts in, or the clock's when none counts a later one (as verification takes a window
 * ahead of its clock). A shard counting that window has `*_free` left of its slice, a shard not
 * counting it yet its whole slice. Used = limit − what the shards have left: exact also after
 * a re-shard or a limit change within the window moved what was left between shards (a
 * removed shard's count leaves with it, what it had left does not), and it includes what the
 * key's own item counted in the window before it was sharded.
 */
function shardedUse<W extends number | string>(
  limit: number,
  clockStart: W,
  shards: readonly ApiKeyItem[],
  counters: Counters,
): { start: W; used: number } {
  let start = clockStart;
  for (const shard of shards) {
    const counted = shard[counters.start] as W | undefined;
    if (counted !== undefined && counted > start) start = counted;
  }
  let left = 0;
  for (const shard of shards) {
    left +=
      shard[counters.start] === start
        ? Math.max(0, shard[counters.free] ?? 0)
        : ((shard[counters.slice] as number | undefined) ?? 0);
  }
  return { start, used: Math.min(limit, Math.max(0, limit - left)) };
}

/**
 * The key as its views count it at `now`. A key counted on its own item is that item; a sharded
 * key (`shards` ≥ 2) is its item with its shards' sums in the counters: usage and last use over
 * the key's item and every shard (shards.ts `totalsOf`), and each limit's use in the current
 * window. `shards`: as KeyStore.findShards reads them. Only the views read this; nothing is
 * written from it.
 */
export function countedItemOf(head: ApiKeyItem, shards: readonly ApiKeyItem[], now: Date): ApiKeyItem {
  if (shardCountOf(head) < 2) return head;
  const { usageCount, lastUsedAt } = totalsOf(head, shards);
  const counted: ApiKeyItem = { ...head, usage_count: usageCount };
  if (lastUsedAt !== undefined) counted.last_used_at = lastUsedAt;
  if (head.rate_limit !== undefined && head.rate_window !== undefined) {
    const rate = shardedUse(head.rate_limit, windowStartOf(now, head.rate_window), shards, RATE_COUNTERS);
    counted.rate_window_start = rate.start;
    counted.rate_count = rate.used;
  }
  if (head.quota_limit !== undefined && head.quota_period !== undefined) {
    const quota = shardedUse(head.quota_limit, periodStartOf(now, head.quota_period), shards, QUOTA_COUNTERS);
    counted.quota_period_start = quota.start;
    counted.quota_used = quota.used;
  }
  return counted;
}

/**
 * The quota as `plan` counts it (`planFor(knownLimitsOf(item), now)`, the plan verification
 * writes with): the stored usage counts the period in `quota_period_start`; if that is not the
 * current one the key has used nothing yet this period. A stored period later than the clock's
 * (a verifier whose clock runs ahead started it) counts as current, as verification takes it.
 */
export function quotaViewOf(item: ApiKeyItem, plan: LimitPlan): QuotaView | null {
  if (!plan.quota || item.quota_limit === undefined) return null;
  const end = periodEndOf(plan.quota.periodStart, plan.quota.period);
  return {
    limit: item.quota_limit,
    period: plan.quota.period,
    used: quotaUsedIn(item, plan),
    resetsAt: end ? end.toISOString() : null,
  };
}

/** The stored allow-lists in a fixed order; null when the key has none. */
function scopesViewOf(scopes: KeyScopes | undefined): KeyScopes | null {
  if (!scopes) return null;
  const view: KeyScopes = {
    ...(scopes.providers ? { providers: scopes.providers } : {}),
    ...(scopes.models ? { models: scopes.models } : {}),
    ...(scopes.operations ? { operations: scopes.operations } : {}),
  };
  return Object.keys(view).length > 0 ? view : null;
}

/** The budget view of the item `budget` when it is the one the key names; null otherwise. */
export function budgetViewFor(
  item: ApiKeyItem,
  budget: BudgetItem | undefined,
  now: Date,
): BudgetView | null {
  return item.budget_id !== undefined && budget?.budget_id === item.budget_id
    ? budgetViewOf(budget, now)
    : null;
}

/** `budget`: the budget item the key names, as read for this answer (./budget-views.ts). */
export function toKeyMetadata(item: ApiKeyItem, now: Date, budget?: BudgetItem): KeyMetadata {
  const expired =
    item.status === 'active' && item.expires_at !== undefined && item.expires_at <= now.toISOString();
  return {
    keyId: item.key_id,
    userId: item.user_id,
    projectId: item.project_id,
    projectBound: item.project_bound === true,
    name: item.name ?? null,
    status: expired ? 'expired' : item.status,
    start: item.start,
    createdAt: item.created_at,
    lastUsedAt: item.last_used_at ?? null,
    usageCount: item.usage_count,
    expiresAt: item.expires_at ?? null,
    revokedAt: item.revoked_at ?? null,
    revokedReason: item.revoked_reason ?? null,
    rateLimit:
      item.rate_limit !== undefined && item.rate_window !== undefined
        ? { limit: item.rate_limit, windowSeconds: item.rate_window }
        : null,
    quota: quotaViewOf(item, planFor(knownLimitsOf(item), now)),
    budget: budgetViewFor(item, budget, now),
    scopes: scopesViewOf(item.scopes),
    shards: shardCountOf(item),
  };
}

export function toUserView(item: UserItem): UserView {
  return {
    userId: item.user_id,
    status: item.status,
    defaultProjectId: item.default_project_id ?? null,
    createdAt: item.created_at,
  };
}
