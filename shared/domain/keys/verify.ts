/**
 * The hot path of every request: a key is verified, limited and counted in one conditional
 * write (docs/decisions/0002, 0007). Format and checksum come first, so garbage costs no
 * database call; refusals that cannot change are remembered per container, so a flood of
 * one bad key costs none either. A refusal's reason is read from the item the refused write
 * returned, never from a second read. Expected outcomes are values; only infrastructure
 * failures throw.
 */

import type { KeyBudgetRef } from '../budgets/model.js';
import { type Clock, systemClock } from '../ports.js';
import { environmentOfKey, hashKey, type KeyEnvironment } from './format.js';
import {
  type KnownLimits,
  knownLimitsOf,
  type LimitPlan,
  type LimitStatus,
  limitStatusOf,
  planFor,
  samePlan,
  spentLimitOf,
  spentUntil,
} from './limits.js';
import type { ApiKeyItem, KeyScopes } from './model.js';
import type { KeyVerificationStore } from './ports.js';
import {
  ExpiringMemory,
  MEMORY_MAX_ENTRIES,
  REFUSAL_MEMORY_MS,
  SPENT_LIMIT_MAX_MS,
} from './refusal-cache.js';
import { createShardChoice } from './shard-choice.js';
import { shardHashOf } from './shards.js';

export type VerifyRefusalReason =
  | 'malformed'
  | 'other_environment'
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'suspended';

/** The key is fine but one of its limits is spent: answered 429 by the requests function. */
export type LimitRefusalReason = 'rate_limited' | 'quota_exceeded';

/** What a usable key grants: identity, project binding, scopes and its limits' state. */
export interface Admission {
  userId: string;
  keyId: string;
  projectId: string;
  projectBound: boolean;
  scopes?: KeyScopes;
  limits: LimitStatus;
  /** The key's spend budget, held and settled by the requests function (SPEC §5b). */
  budget?: KeyBudgetRef;
}

/** The budget a key item names, when it names one completely. */
export function budgetRefOf(item: ApiKeyItem): KeyBudgetRef | undefined {
  if (
    item.budget_id === undefined ||
    item.budget_limit === undefined ||
    item.budget_period === undefined ||
    item.budget_hold === undefined
  )
    return undefined;
  return {
    budgetId: item.budget_id,
    limit: item.budget_limit,
    period: item.budget_period,
    hold: item.budget_hold,
  };
}

/** Whose key a refused key is, when the store knows it (revoked, expired, suspended): for ops' logs. */
export interface RefusedKeyOwner {
  keyId: string;
  userId: string;
}

export type VerifyResult =
  | ({ ok: true } & Admission)
  | ({ ok: false; reason: LimitRefusalReason; retryAfterSeconds?: number } & Admission)
  | ({ ok: false; reason: VerifyRefusalReason } & Partial<RefusedKeyOwner>);

/** A usable key over one of its limits (answered 429, with the key's identity and limits). */
export function isLimitRefusal(
  result: VerifyResult,
): result is Extract<VerifyResult, { reason: LimitRefusalReason }> {
  return !result.ok && (result.reason === 'rate_limited' || result.reason === 'quota_exceeded');
}

/** Why the key itself is refused, from the item as it was; undefined when it is usable. */
export function refusalReasonOf(
  current: ApiKeyItem | undefined,
  now: Date = new Date(),
): Exclude<VerifyRefusalReason, 'malformed' | 'other_environment'> | undefined {
  if (!current) return 'unknown';
  if (current.status !== 'active') return 'revoked';
  if (current.user_suspended) return 'suspended';
  if (current.expires_at !== undefined && current.expires_at <= now.toISOString()) return 'expired';
  return undefined;
}

export interface KeyVerifierOptions {
  keys: KeyVerificationStore;
  /** The stage's environment: a key of the other one is refused before any database call. */
  environment: KeyEnvironment;
  clock?: Clock;
  /** Keys this container remembers (limits seen, refusals); bounded memory. */
  maxRemembered?: number;
  /** Picks a sharded key's shard (tests pass a seeded one). */
  random?: () => number;
}

/**
 * Writes per call: one when this container's memory of the key's limits is right; a wrong
 * one (first sight of a limited key, a rollover another container made first, an operator's
 * change) fails the condition and the returned item corrects it. A third attempt only
 * happens when the item changed again in between.
 */
const MAX_WRITES = 3;
/** A shard DynamoDB throttled is left alone this long by this container. */
const THROTTLED_SHARD_MS = 250;

type RememberedRefusal =
  | ({ reason: 'unknown' | 'revoked' | 'expired' } & Partial<RefusedKeyOwner>)
  | { reason: LimitRefusalReason; admission: Admission; plan: LimitPlan; item: ApiKeyItem; until?: number };

function admissionOf(item: ApiKeyItem, plan: LimitPlan, now: Date): Admission {
  return {
    userId: item.user_id,
    keyId: item.key_id,
    projectId: item.project_id,
    projectBound: item.project_bound === true,
    ...(item.scopes ? { scopes: item.scopes } : {}),
    limits: limitStatusOf(item, plan, now),
    ...(budgetRefOf(item) ? { budget: budgetRefOf(item) } : {}),
  };
}

export function createKeyVerifier(options: KeyVerifierOptions) {
  const clock = options.clock ?? systemClock;
  const maxEntries = options.maxRemembered ?? MEMORY_MAX_ENTRIES;
  /** The limits each key had at its last write here: what the next write expects. */
  const known = new ExpiringMemory<KnownLimits>({ maxEntries });
  const refusals = new ExpiringMemory<RememberedRefusal>({ maxEntries });
  /** Sharded keys' shard counts, and the limits each shard item had at its last write here. */
  const knownShards = new ExpiringMemory<number>({ maxEntries });
  const shardChoice = createShardChoice({ maxEntries, random: options.random ?? Math.random });

  const itemKey = (keyHash: string, target: number | undefined) =>
    target === undefined ? keyHash : shardHashOf(keyHash, target);

  /** What the next write on `target` expects: that item's own windows, else the key's limits. */
  function planOf(keyHash: string, target: number | undefined, now: Date, nowMs: number): LimitPlan {
    // A shard not yet written here starts from the key's limits (no window counted yet).
    const limits = known.get(itemKey(keyHash, target), nowMs) ?? known.get(keyHash, nowMs) ?? {};
    return planFor(limits, now, target);
  }

  function remember(keyHash: string, target: number | undefined, item: ApiKeyItem): void {
    const limits = knownLimitsOf(item);
    known.set(itemKey(keyHash, target), limits, Number.POSITIVE_INFINITY);
    // The windows one shard counts in are the best guess for a shard not written here yet
    // (most already count the current one): a wrong guess costs one corrected write.
    if (target !== undefined) known.set(keyHash, limits, Number.POSITIVE_INFINITY);
  }

  function forget(keyHash: string): void {
    known.delete(keyHash);
    knownShards.delete(keyHash);
  }

  /** Every shard's slice is spent: refused like a spent limit, remembered at most 1 s. */
  function limitedOnEveryShard(
    keyHash: string,
    item: ApiKeyItem,
    now: Date,
    nowMs: number,
    reason: LimitRefusalReason = shardChoice.reasonOf(keyHash, nowMs) ?? 'rate_limited',
    plan: LimitPlan = planFor(knownLimitsOf(item), now),
  ): VerifyResult {
    const end = spentUntil(reason, plan);
    const admission = admissionOf(item, plan, now);
    // Seen spent on every shard: nothing is left of the refused limit.
    const spentLimit = reason === 'rate_limited' ? admission.limits.rate : admission.limits.quota;
    if (spentLimit) spentLimit.remaining = 0;
    const refusal = {
      reason,
      admission,
      plan,
      item,
      ...(end !== undefined ? { until: end } : {}),
    };
    refusals.set(keyHash, refusal, Math.min(end ?? Number.POSITIVE_INFINITY, nowMs + SPENT_LIMIT_MAX_MS));
    return limited(refusal, now);
  }

  function limited(refusal: Extract<RememberedRefusal, { admission: Admission }>, now: Date): VerifyResult {
    const retryAfterSeconds =
      refusal.until !== undefined
        ? Math.max(1, Math.ceil((refusal.until - now.getTime()) / 1000))
        : undefined;
    return {
      ok: false,
      reason: refusal.reason,
      ...refusal.admission,
      // Recomputed for now: the reset counts down while the refusal is remembered.
      limits: limitStatusOf(refusal.item, refusal.plan, now),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    };
  }

  return {
    /** `signal`: the caller's time budget; when it ends, the pending write's outcome is unknown and verify throws. */
    async verify(candidate: unknown, signal?: AbortSignal): Promise<VerifyResult> {
      const environment = environmentOfKey(candidate);
      if (environment === undefined) return { ok: false, reason: 'malformed' };
      if (environment !== options.environment) return { ok: false, reason: 'other_environment' };
      const keyHash = hashKey(candidate as string);
      const now = clock();
      const nowMs = now.getTime();

      const remembered = refusals.get(keyHash, nowMs);
      if (remembered) {
        return 'admission' in remembered ? limited(remembered, now) : { ok: false, ...remembered };
      }

      // A sharded key counts on one of its shards, chosen among those not known spent.
      let shards = knownShards.get(keyHash, nowMs);
      let target = shards ? shardChoice.pick(keyHash, shards, nowMs) : undefined;
      let plan = planOf(keyHash, target, now, nowMs);
      // Plan corrections (at most MAX_WRITES on one item) plus, on a sharded key, one write per
      // shard whose slice is spent (bounded by the shard count).
      let corrections = 0;
      for (let writes = 0; writes < MAX_WRITES + (shards ?? 0) + 1; writes += 1) {
        const written = await options.keys.verifyAndCount(keyHash, now, plan, signal);
        if ('throttled' in written) {
          // DynamoDB refused this shard's write unapplied (its per-item write rate): another
          // shard takes the call. An unsharded key has nowhere else to go: fail closed.
          if (target === undefined || shards === undefined) throw new Error('the key item is throttled');
          shardChoice.spent(keyHash, target, nowMs + THROTTLED_SHARD_MS, 'rate_limited', nowMs);
          target = shardChoice.pick(keyHash, shards, nowMs);
          if (target === undefined) throw new Error('every shard of the key is throttled');
          plan = planOf(keyHash, target, now, nowMs);
          corrections = 0;
          continue;
        }
        if (written.ok) {
          remember(keyHash, target, written.item);
          // The written item is counted in the current windows: read its numbers as such.
          return {
            ok: true,
            ...admissionOf(written.item, planFor(knownLimitsOf(written.item), now, target), now),
          };
        }
        const current = written.current;
        if (target !== undefined && current === undefined) {
          // The shard is gone (the key was re-sharded to fewer): ask the key's own item again.
          knownShards.delete(keyHash);
          shards = undefined;
          target = undefined;
          plan = planOf(keyHash, target, now, nowMs);
          corrections = 0;
          continue;
        }
        const reason = refusalReasonOf(current, now);
        if (reason) {
          forget(keyHash);
          const owner: Partial<RefusedKeyOwner> = current
            ? { keyId: current.key_id, userId: current.user_id }
            : {};
          // A suspension is never remembered: a reactivation must count on the next call.
          if (reason !== 'suspended') {
            refusals.set(keyHash, { reason, ...owner }, nowMs + REFUSAL_MEMORY_MS[reason]);
          }
          return { ok: false, reason, ...owner };
        }
        const item = current as ApiKeyItem;
        if (item.shard_of === undefined && item.shards !== undefined) {
          // The key is sharded: its own item counts nothing and names the shard count.
          shards = item.shards;
          knownShards.set(keyHash, shards, Number.POSITIVE_INFINITY);
          known.set(keyHash, knownLimitsOf(item), Number.POSITIVE_INFINITY);
          target = shardChoice.pick(keyHash, shards, nowMs);
          if (target === undefined) return limitedOnEveryShard(keyHash, item, now, nowMs);
          plan = planOf(keyHash, target, now, nowMs);
          corrections = 0;
          continue;
        }
        if (item.shard_of !== undefined && item.shards !== undefined && item.shards !== shards) {
          shards = item.shards;
          knownShards.set(keyHash, shards, Number.POSITIVE_INFINITY);
        }
        remember(keyHash, target, item);
        const actual = planFor(knownLimitsOf(item), now, target);
        const spent = spentLimitOf(item, actual);
        if (spent && target !== undefined && shards !== undefined) {
          // This shard's slice is spent in its window: try the others, none twice.
          const until = Math.min(
            spentUntil(spent.reason, actual) ?? Number.POSITIVE_INFINITY,
            nowMs + SPENT_LIMIT_MAX_MS,
          );
          shardChoice.spent(keyHash, target, until, spent.reason, nowMs);
          target = shardChoice.pick(keyHash, shards, nowMs);
          if (target === undefined)
            return limitedOnEveryShard(keyHash, item, now, nowMs, spent.reason, actual);
          plan = planOf(keyHash, target, now, nowMs);
          corrections = 0;
          continue;
        }
        if (spent) {
          const end = spentUntil(spent.reason, actual);
          const refusal = {
            reason: spent.reason,
            admission: admissionOf(item, actual, now),
            plan: actual,
            item,
            ...(end !== undefined ? { until: end } : {}),
          };
          refusals.set(
            keyHash,
            refusal,
            Math.min(end ?? Number.POSITIVE_INFINITY, nowMs + SPENT_LIMIT_MAX_MS),
          );
          return limited(refusal, now);
        }
        // The write expected other limits than the item has: write again as it says.
        corrections += 1;
        if (samePlan(plan, actual) || corrections >= MAX_WRITES) break;
        plan = actual;
      }
      throw new Error('the verify write kept failing on a usable key');
    },
  };
}

export type KeyVerifier = ReturnType<typeof createKeyVerifier>;
