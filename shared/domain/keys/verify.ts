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
import { createShardBook } from './shard-book.js';

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
/** Own item → shards (learnt) → own item (re-sharded) → shards: then the key is changing too fast. */
const MAX_ROUTES = 4;

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
  /** The limits each unsharded key had at its last write here: what the next write expects. */
  const known = new ExpiringMemory<KnownLimits>({ maxEntries });
  const refusals = new ExpiringMemory<RememberedRefusal>({ maxEntries });
  /** Sharded keys: what this container knows of each shard, and its writes on their way. */
  const shardBook = createShardBook({ maxEntries, random: options.random ?? Math.random });

  function forget(keyHash: string): void {
    known.delete(keyHash);
    shardBook.forget(keyHash);
  }

  /** A refusal of the key itself (unknown, revoked, expired, suspended), remembered as it may be. */
  function refusedKey(
    keyHash: string,
    reason: Exclude<VerifyRefusalReason, 'malformed' | 'other_environment'>,
    current: ApiKeyItem | undefined,
    nowMs: number,
  ): VerifyResult {
    forget(keyHash);
    const owner: Partial<RefusedKeyOwner> = current ? { keyId: current.key_id, userId: current.user_id } : {};
    // A suspension is never remembered: a reactivation must count on the next call.
    if (reason !== 'suspended')
      refusals.set(keyHash, { reason, ...owner }, nowMs + REFUSAL_MEMORY_MS[reason]);
    return { ok: false, reason, ...owner };
  }

  /** A spent limit: refused, remembered until it ends, at most SPENT_LIMIT_MAX_MS (an `update` may lift it). */
  function spentLimit(
    keyHash: string,
    item: ApiKeyItem,
    reason: LimitRefusalReason,
    plan: LimitPlan,
    now: Date,
    nowMs: number,
    everyShard = false,
  ): VerifyResult {
    const end = spentUntil(reason, plan);
    const admission = admissionOf(item, plan, now);
    if (everyShard) {
      // Seen spent on every shard: nothing is left of the refused limit.
      const spent = reason === 'rate_limited' ? admission.limits.rate : admission.limits.quota;
      if (spent) spent.remaining = 0;
    }
    const refusal = { reason, admission, plan, item, ...(end !== undefined ? { until: end } : {}) };
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

  /** The call goes to the key's shards instead (learnt or forgotten): choose again. */
  const REROUTE = Symbol('reroute');
  type Outcome = VerifyResult | typeof REROUTE;

  /**
   * A key counted on its own item: one write when this container's memory of its limits is
   * right, a corrected one otherwise. A sharded key's item refuses and names its shard count:
   * the container reads the shards once and the call goes to them.
   */
  async function onOwnItem(
    keyHash: string,
    now: Date,
    nowMs: number,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    let plan = planFor(known.get(keyHash, nowMs) ?? {}, now);
    for (let writes = 0; writes < MAX_WRITES; writes += 1) {
      const written = await options.keys.verifyAndCount(keyHash, now, plan, signal);
      if ('throttled' in written) throw new Error('the key item is throttled');
      if (written.ok) {
        known.set(keyHash, knownLimitsOf(written.item), Number.POSITIVE_INFINITY);
        // The written item is counted in the current windows: read its numbers as such.
        return { ok: true, ...admissionOf(written.item, planFor(knownLimitsOf(written.item), now), now) };
      }
      const current = written.current;
      const reason = refusalReasonOf(current, now);
      if (reason) return refusedKey(keyHash, reason, current, nowMs);
      const item = current as ApiKeyItem;
      if (item.shards !== undefined && item.shard_of === undefined) {
        // The key is sharded: its own item counts nothing. One read tells where there is room.
        known.delete(keyHash);
        shardBook.learn(keyHash, item, await options.keys.readShards(keyHash, item.shards, signal), now);
        return REROUTE;
      }
      known.set(keyHash, knownLimitsOf(item), Number.POSITIVE_INFINITY);
      const actual = planFor(knownLimitsOf(item), now);
      const spent = spentLimitOf(item, actual);
      if (spent) return spentLimit(keyHash, item, spent.reason, actual, now, nowMs);
      // The write expected other limits than the item has: write again as it says.
      if (samePlan(plan, actual)) break;
      plan = actual;
    }
    throw new Error('the verify write kept failing on a usable key');
  }

  /**
   * A sharded key: each write goes to a shard with room (./shard-book.ts); a refused or
   * throttled one sends the call to another, none twice in a row for nothing; with no room
   * anywhere the call waits for this container's pending writes instead of writing.
   */
  async function onShards(keyHash: string, now: Date, nowMs: number, signal?: AbortSignal): Promise<Outcome> {
    const shards = shardBook.countOf(keyHash, nowMs) ?? 0;
    // Each shard once plus corrections; waits only follow answers, so they end too.
    const maxWrites = shards + MAX_WRITES;
    let writes = 0;
    let refreshed = false;
    for (let steps = 0; steps < 4 * maxWrites; steps += 1) {
      const choice = shardBook.choose(keyHash, now, nowMs);
      if (!choice) return REROUTE;
      if (choice.kind === 'wait') {
        await shardBook.nextAnswer(keyHash, nowMs, signal);
        continue;
      }
      if (choice.kind === 'throttled') throw new Error('every shard of the key with room is throttled');
      if (choice.kind === 'spent')
        return spentLimit(keyHash, choice.item, choice.reason, choice.plan, now, nowMs, true);
      if (writes >= maxWrites) break;
      writes += 1;
      const { shard, plan } = choice;
      shardBook.sent(keyHash, shard, nowMs);
      let written: Awaited<ReturnType<KeyVerificationStore['verifyAndCount']>>;
      try {
        written = await options.keys.verifyAndCount(keyHash, now, plan, signal);
      } catch (error) {
        shardBook.answered(keyHash, shard, {}, now);
        throw error;
      }
      if ('throttled' in written) {
        // DynamoDB refused this shard's write unapplied (its per-item write rate).
        shardBook.answered(keyHash, shard, { throttledUntil: nowMs + THROTTLED_SHARD_MS }, now);
        continue;
      }
      if (written.ok) {
        shardBook.answered(keyHash, shard, { item: written.item }, now);
        return {
          ok: true,
          ...admissionOf(written.item, planFor(knownLimitsOf(written.item), now, shard), now),
        };
      }
      const current = written.current;
      if (current === undefined || (current.shards ?? shards) !== shards) {
        // The key was re-sharded: its own item names the new shard count.
        shardBook.answered(keyHash, shard, {}, now);
        shardBook.forget(keyHash);
        return REROUTE;
      }
      const reason = refusalReasonOf(current, now);
      if (reason) {
        shardBook.answered(keyHash, shard, {}, now);
        return refusedKey(keyHash, reason, current, nowMs);
      }
      // Spent, or counting other windows than guessed: the book now knows, choose again.
      shardBook.answered(keyHash, shard, { item: current }, now);
      if (!refreshed && shardBook.isSpent(keyHash, shard, nowMs)) {
        // The book showed room there: other containers took it, and what the book shows of
        // the other shards is as old. One read instead of a write per stale shard.
        refreshed = true;
        shardBook.refresh(keyHash, await options.keys.readShards(keyHash, shards, signal), now);
      }
    }
    throw new Error('the verify write kept failing on a usable sharded key');
  }

  /** The candidate's hash and the time of its verification, or the refusal of its format. */
  const keyOf = (
    candidate: unknown,
  ): { refused: VerifyResult } | { keyHash: string; now: Date; nowMs: number } => {
    const environment = environmentOfKey(candidate);
    if (environment === undefined) return { refused: { ok: false, reason: 'malformed' } };
    if (environment !== options.environment) return { refused: { ok: false, reason: 'other_environment' } };
    const now = clock();
    return { keyHash: hashKey(candidate as string), now, nowMs: now.getTime() };
  };

  return {
    /** `signal`: the caller's time budget; when it ends, the pending write's outcome is unknown and verify throws. */
    async verify(candidate: unknown, signal?: AbortSignal): Promise<VerifyResult> {
      const key = keyOf(candidate);
      if ('refused' in key) return key.refused;
      const { keyHash, now, nowMs } = key;
      const remembered = refusals.get(keyHash, nowMs);
      if (remembered) {
        return 'admission' in remembered ? limited(remembered, now) : { ok: false, ...remembered };
      }
      // Learning the shards, or a re-shard, moves the call between the key's item and its shards.
      for (let route = 0; route < MAX_ROUTES; route += 1) {
        const outcome =
          shardBook.countOf(keyHash, nowMs) !== undefined
            ? await onShards(keyHash, now, nowMs, signal)
            : await onOwnItem(keyHash, now, nowMs, signal);
        if (outcome !== REROUTE) return outcome;
      }
      throw new Error('the key kept changing its shard count');
    },

    /**
     * A key verified without counting the call (SPEC §3d count_tokens: no brain call, no
     * count): one strongly consistent read of its own item, the same refusals of the key itself
     * as `verify` (unknown, revoked, expired, suspended); no limit is spent by the call, so none
     * refuses it, and the admission carries no limit numbers (no headers claim a count).
     */
    async check(candidate: unknown, signal?: AbortSignal): Promise<VerifyResult> {
      const key = keyOf(candidate);
      if ('refused' in key) return key.refused;
      const { keyHash, now, nowMs } = key;
      const remembered = refusals.get(keyHash, nowMs);
      if (remembered && !('admission' in remembered)) return { ok: false, ...remembered };
      const item = await options.keys.readKey(keyHash, signal);
      const reason = refusalReasonOf(item, now);
      if (reason) return refusedKey(keyHash, reason, item, nowMs);
      const admission = admissionOf(item as ApiKeyItem, planFor({}, now), now);
      return { ok: true, ...admission, limits: {} };
    },
  };
}

export type KeyVerifier = ReturnType<typeof createKeyVerifier>;
