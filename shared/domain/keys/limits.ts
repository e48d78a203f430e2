/**
 * Per-key rate limits and quotas (SPEC §5), counted exactly in the one verify write
 * (docs/decisions/0007-key-limits.md). This module holds the arithmetic both sides share:
 * fixed windows aligned to the Unix epoch, UTC day / calendar month / lifetime periods,
 * the plan a verify write is built from, and what a stored item says about its limits.
 */
import type { ApiKeyItem, QuotaPeriod } from './model.js';
import type { LimitPlan } from './ports.js';

export type { LimitPlan } from './ports.js';

export interface RateLimit {
  limit: number;
  /** 1–86,400. */
  windowSeconds: number;
}

export interface Quota {
  limit: number;
  period: QuotaPeriod;
}

export const MAX_WINDOW_SECONDS = 86_400;
/** Limits large enough for any real key, small enough to stay exact as DynamoDB numbers. */
export const MAX_LIMIT = 1_000_000_000;

/** Start (epoch seconds) of the fixed window of `windowSeconds` that contains `now`. */
export function windowStartOf(now: Date, windowSeconds: number): number {
  const seconds = Math.floor(now.getTime() / 1000);
  return seconds - (seconds % windowSeconds);
}

/** The quota period containing `now`: `YYYY-MM-DD` (UTC day), `YYYY-MM` (month) or `total`. */
export function periodStartOf(now: Date, period: QuotaPeriod): string {
  const iso = now.toISOString();
  if (period === 'day') return iso.slice(0, 10);
  if (period === 'month') return iso.slice(0, 7);
  return 'total';
}

/** When a period ends (the next one starts); undefined for `total`, which never resets. */
export function periodEndOf(periodStart: string, period: QuotaPeriod): Date | undefined {
  if (period === 'total') return undefined;
  if (period === 'day') return new Date(Date.parse(`${periodStart}T00:00:00.000Z`) + 86_400_000);
  const [year, month] = periodStart.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(year, month, 1));
}

/** The limit configuration and counted windows of an item, as the verifier remembers them. */
export interface KnownLimits {
  rate?: { windowSeconds: number; windowStart?: number };
  quota?: { period: QuotaPeriod; periodStart?: string };
}

export function knownLimitsOf(item: ApiKeyItem): KnownLimits {
  return {
    ...(item.rate_limit !== undefined && item.rate_window !== undefined
      ? {
          rate: {
            windowSeconds: item.rate_window,
            ...(item.rate_window_start !== undefined ? { windowStart: item.rate_window_start } : {}),
          },
        }
      : {}),
    ...(item.quota_limit !== undefined && item.quota_period !== undefined
      ? {
          quota: {
            period: item.quota_period,
            ...(item.quota_period_start !== undefined ? { periodStart: item.quota_period_start } : {}),
          },
        }
      : {}),
  };
}

/**
 * The plan for a write at `now`. A counted window later than the clock's (another container's
 * clock runs ahead) is taken as current, so skew never restarts a window.
 */
export function planFor(known: KnownLimits, now: Date, shard?: number): LimitPlan {
  const plan: LimitPlan = shard === undefined ? {} : { shard };
  if (known.rate) {
    const clockStart = windowStartOf(now, known.rate.windowSeconds);
    const stored = known.rate.windowStart;
    plan.rate =
      stored !== undefined && stored >= clockStart
        ? { windowSeconds: known.rate.windowSeconds, windowStart: stored, fresh: false }
        : { windowSeconds: known.rate.windowSeconds, windowStart: clockStart, fresh: true };
  }
  if (known.quota) {
    const clockStart = periodStartOf(now, known.quota.period);
    const stored = known.quota.periodStart;
    plan.quota =
      stored !== undefined && stored >= clockStart
        ? { period: known.quota.period, periodStart: stored, fresh: false }
        : { period: known.quota.period, periodStart: clockStart, fresh: true };
  }
  return plan;
}

export function samePlan(a: LimitPlan, b: LimitPlan): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A key's limits as the answer headers show them (SPEC §3), from the write's own item. */
export interface LimitStatus {
  rate?: { limit: number; remaining: number; resetSeconds: number };
  quota?: { limit: number; remaining: number; resetSeconds?: number };
}

const secondsUntil = (end: number, now: Date): number => Math.max(1, Math.ceil((end - now.getTime()) / 1000));

/** Admitted calls the item counts in the plan's rate window: 0 when the window is fresh (not yet counted on it). */
export const rateCountIn = (item: ApiKeyItem, plan: LimitPlan): number =>
  plan.rate && !plan.rate.fresh ? (item.rate_count ?? 0) : 0;

/** Admitted calls the item counts in the plan's quota period: 0 when the period is fresh. */
export const quotaUsedIn = (item: ApiKeyItem, plan: LimitPlan): number =>
  plan.quota && !plan.quota.fresh ? (item.quota_used ?? 0) : 0;

/** When the plan's rate window ends (epoch ms). */
export const rateWindowEndOf = (rate: NonNullable<LimitPlan['rate']>): number =>
  (rate.windowStart + rate.windowSeconds) * 1000;

/**
 * What a shard item has left of its slice in the plan's window (period): all of it when the
 * window is fresh. A sharded key's headers show this shard's part, a lower bound of the key's.
 */
export const shardLeft = (slice: number | undefined, free: number | undefined, fresh: boolean): number =>
  Math.max(0, fresh ? (slice ?? 0) : (free ?? 0));

/** The headers' numbers for an item written (or refused) with `plan` at `now`. */
export function limitStatusOf(item: ApiKeyItem, plan: LimitPlan, now: Date): LimitStatus {
  if (item.shard_of !== undefined) return shardLimitStatusOf(item, plan, now);
  const status: LimitStatus = {};
  if (plan.rate && item.rate_limit !== undefined) {
    const counted = rateCountIn(item, plan);
    status.rate = {
      limit: item.rate_limit,
      remaining: Math.max(0, item.rate_limit - counted),
      resetSeconds: secondsUntil(rateWindowEndOf(plan.rate), now),
    };
  }
  if (plan.quota && item.quota_limit !== undefined) {
    const used = quotaUsedIn(item, plan);
    const end = periodEndOf(plan.quota.periodStart, plan.quota.period);
    status.quota = {
      limit: item.quota_limit,
      remaining: Math.max(0, item.quota_limit - used),
      ...(end ? { resetSeconds: secondsUntil(end.getTime(), now) } : {}),
    };
  }
  return status;
}

function shardLimitStatusOf(item: ApiKeyItem, plan: LimitPlan, now: Date): LimitStatus {
  const status: LimitStatus = {};
  if (plan.rate && item.rate_limit !== undefined) {
    status.rate = {
      limit: item.key_rate_limit ?? item.rate_limit,
      remaining: shardLeft(item.rate_limit, item.rate_free, plan.rate.fresh),
      resetSeconds: secondsUntil(rateWindowEndOf(plan.rate), now),
    };
  }
  if (plan.quota && item.quota_limit !== undefined) {
    const end = periodEndOf(plan.quota.periodStart, plan.quota.period);
    status.quota = {
      limit: item.key_quota_limit ?? item.quota_limit,
      remaining: shardLeft(item.quota_limit, item.quota_free, plan.quota.fresh),
      ...(end ? { resetSeconds: secondsUntil(end.getTime(), now) } : {}),
    };
  }
  return status;
}

/** A limit the item shows spent at `now` (the quota first: waiting out a window does not help it). */
export function spentLimitOf(
  item: ApiKeyItem,
  plan: LimitPlan,
): { reason: 'quota_exceeded' | 'rate_limited' } | undefined {
  if (item.shard_of !== undefined) {
    // A shard is spent when its slice has nothing left in the window (or is 0 for a fresh one).
    if (plan.quota && shardLeft(item.quota_limit, item.quota_free, plan.quota.fresh) < 1)
      return { reason: 'quota_exceeded' };
    if (plan.rate && shardLeft(item.rate_limit, item.rate_free, plan.rate.fresh) < 1)
      return { reason: 'rate_limited' };
    return undefined;
  }
  if (
    plan.quota &&
    !plan.quota.fresh &&
    quotaUsedIn(item, plan) >= (item.quota_limit ?? Number.POSITIVE_INFINITY)
  )
    return { reason: 'quota_exceeded' };
  if (
    plan.rate &&
    !plan.rate.fresh &&
    rateCountIn(item, plan) >= (item.rate_limit ?? Number.POSITIVE_INFINITY)
  )
    return { reason: 'rate_limited' };
  return undefined;
}

/** Until when a spent limit stays spent (epoch ms); undefined for a spent `total` quota. */
export function spentUntil(reason: 'quota_exceeded' | 'rate_limited', plan: LimitPlan): number | undefined {
  if (reason === 'rate_limited' && plan.rate) return rateWindowEndOf(plan.rate);
  if (reason === 'quota_exceeded' && plan.quota)
    return periodEndOf(plan.quota.periodStart, plan.quota.period)?.getTime();
  return undefined;
}
