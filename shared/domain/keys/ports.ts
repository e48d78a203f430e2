/**
 * What the key domain needs from a store, and the errors a store raises for expected
 * conditions. The DynamoDB adapters (shared/adapters/dynamodb) implement these; the domain
 * never sees an SDK type, and it alone decides what a stored state means.
 */
import type { BudgetItem, KeyBudgetRef } from '../budgets/model.js';
import type { ApiKeyItem, KeyScopes, QuotaPeriod, UserItem, UserStatus } from './model.js';

/**
 * What one verify write expects to find, so it can be one UpdateItem: for each limit, the
 * window (period) it counts in and whether that window is `fresh` — not yet counted on the
 * item (the write starts it at 1) — or current (the write adds 1 while below the limit).
 * A key without a limit is asserted to have none. A wrong expectation fails the write's
 * condition and the item that comes back gives the right one (at most one extra call).
 */
export interface LimitPlan {
  rate?: { windowSeconds: number; windowStart: number; fresh: boolean };
  quota?: { period: QuotaPeriod; periodStart: string; fresh: boolean };
  /**
   * A sharded key's shard this write counts on (`<key_hash>#<shard>`), whose slices are
   * checked through `rate_free`/`quota_free`; absent: the key's own item, which must not be
   * sharded (docs/decisions/0012-sharded-keys.md).
   */
  shard?: number;
}

/** The one conditional write of a request: the counted item, or the item as it was when refused. */
export type VerifyWrite =
  | { ok: true; item: ApiKeyItem }
  | { ok: false; current: ApiKeyItem | undefined }
  /** A sharded key's shard write that DynamoDB refused unapplied for its per-item write rate. */
  | { ok: false; throttled: true };

/** One of a user's keys as the UserKeys table holds it. */
export interface KeyRef {
  keyId: string;
  keyHash: string;
  createdAt: string;
}

export interface KeyRefPage {
  refs: KeyRef[];
  /** The key id to continue after, absent on the last page. */
  lastKeyId?: string;
}

export interface KeyPage {
  items: ApiKeyItem[];
  /** The last key of this page when another page follows (where the next one starts). */
  last?: KeyRef;
}

/** A named rotation's hold on the key it replaces (docs/decisions/0006). */
export interface RotationClaim {
  rotationId: string;
  /** The claim lapses after this: no keys-admin invocation outlives it. */
  until: Date;
  /** The id of the key this rotation issues, so a later rotation can revoke it if it was never delivered. */
  newKeyId: string;
}

/**
 * What keys-admin's `update` writes on a key: a value sets it, `null` removes it, an absent
 * field stays as it is. A limit that keeps its window length (period) keeps its counter, and
 * the write then asserts the key still counts in that window; otherwise the counter is
 * removed and counting restarts (docs/decisions/0007).
 */
export interface KeyChange {
  name?: string | null;
  expiresAt?: string | null;
  rateLimit?: { limit: number; windowSeconds: number; keepCount: boolean } | null;
  quota?: { limit: number; period: QuotaPeriod; keepUsage: boolean } | null;
  /**
   * The budget the key draws on and copies of its configuration, on the condition that the key
   * still names `expectedBudgetId` (null: no budget), so the copies match the budget item the
   * update configured; `null` removes the key's budget fields (the budget item stays).
   */
  budget?: { ref: KeyBudgetRef; expectedBudgetId: string | null } | null;
  scopes?: KeyScopes | null;
  /**
   * The key's new shard count (1–64; 1: counted on its own item again). Counts, limits and
   * budgets carry over exactly; every shard obeys the change before `update` answers.
   */
  shards?: number;
  /**
   * Set when the key is or becomes sharded: what the write asserts the key had (so the move
   * of slices is computed from the truth) and the windows current at the change.
   */
  sharding?: {
    before: { shards: number; rateLimit?: number; quotaLimit?: number };
    windows: { rate?: number; quota?: string };
  };
}

/** An update's one conditional write: the changed item, or the item as it was when refused. */
export type KeyChangeWrite = { ok: true; item: ApiKeyItem } | { ok: false; current: ApiKeyItem | undefined };

export interface KeyVerificationStore {
  /**
   * In ONE conditional write: the key exists, is active, not expired at `now`, its user is
   * not suspended, and its limits are as `plan` expects and not spent → count it
   * (`last_used_at`, `usage_count`, the windows of `plan`). Refused: the current item.
   * `signal` ends the wait (the caller's time budget); the write is then in doubt and the
   * caller fails closed, never repeats it (docs/decisions/0011).
   */
  verifyAndCount(keyHash: string, now: Date, plan: LimitPlan, signal?: AbortSignal): Promise<VerifyWrite>;
  /**
   * A sharded key's shard items (strongly consistent), read once by a container that learns
   * the key is sharded, so its first writes go where there is room (docs/decisions/0012).
   * Missing or unprocessed ones are left out.
   */
  readShards(keyHash: string, shards: number, signal?: AbortSignal): Promise<ApiKeyItem[]>;
  /**
   * The key's own item (strongly consistent), counting nothing: how a call that is not counted
   * (POST /v1/messages/count_tokens, SPEC §3d: no brain call, no count) is verified.
   */
  readKey(keyHash: string, signal?: AbortSignal): Promise<ApiKeyItem | undefined>;
}

export interface KeyStore extends KeyVerificationStore {
  /**
   * One transaction: the user exists and is active, the key item (never overwriting a hash)
   * and its reference under the user, and the key's new budget item when it has one (never
   * overwriting a budget) and, for a sharded key, its shard items (docs/decisions/0012).
   * UserNotActiveError, KeyCollisionError, StoreConflictError.
   */
  create(item: ApiKeyItem, budget?: BudgetItem, shards?: readonly ApiKeyItem[]): Promise<void>;
  /**
   * A sharded key's shard items (strongly consistent), in shard order; missing ones left out.
   * `shards` is the key's shard count (its item's `shards`).
   */
  findShards(keyHash: string, shards: number): Promise<ApiKeyItem[]>;
  findByHash(keyHash: string): Promise<ApiKeyItem | undefined>;
  /** Strongly consistent reads, in the given order (missing ones left out). */
  findByHashes(keyHashes: readonly string[]): Promise<ApiKeyItem[]>;
  /** A user's key by id (strongly consistent); undefined when the user has no such key. */
  findRef(userId: string, keyId: string): Promise<KeyRef | undefined>;
  /** A page of the user's keys in key id order, after `afterKeyId` (strongly consistent). */
  listRefs(userId: string, limit: number, afterKeyId?: string): Promise<KeyRefPage>;
  /** The user's keys, newest first (the user index), starting after `after`. */
  listByUser(userId: string, limit: number, after?: KeyRef): Promise<KeyPage>;
  /**
   * One conditional write: the key exists, belongs to `userId` and is active (and, for a limit
   * whose counter `change` keeps, still counts in that window or period) → apply `change`.
   */
  update(keyHash: string, userId: string, change: KeyChange): Promise<KeyChangeWrite>;
  /** Active → revoked; KeyStateError otherwise. */
  revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem>;
  /**
   * Claim an active, unexpired, unrotated key for a named rotation, unless another claim holds
   * it. Returns the item as it was (its lapsed claim, if any, names an undelivered key).
   * KeyStateError when it cannot be claimed.
   */
  claimForRotation(keyHash: string, claim: RotationClaim, now: Date): Promise<ApiKeyItem>;
  /** Give up a claim this rotation holds (no effect when it does not hold it). */
  releaseRotation(keyHash: string, rotationId: string): Promise<void>;
  /**
   * Retire for rotation at most once: revoke now, or expire at `expiresAt`; record the key that
   * replaced it. With `rotationId`: only under that claim. Without: only if active, unexpired,
   * unrotated and not held by a live claim. KeyStateError otherwise.
   */
  retire(
    keyHash: string,
    now: Date,
    retirement: { expiresAt?: Date; replacedBy: string; rotationId?: string },
  ): Promise<ApiKeyItem>;
  /**
   * Stamp (or clear) the user's suspension on an active key for status `version`, unless a
   * newer version already stamped it. True when the key changed.
   */
  stampUserStatus(keyHash: string, suspended: boolean, version: number): Promise<boolean>;
}

export interface UserStore {
  /** UserExistsError when the user is already there. */
  create(item: UserItem): Promise<void>;
  find(userId: string): Promise<UserItem | undefined>;
  /**
   * Set the status, bumping `status_version` and marking key stamping pending, unless the
   * user already has it. UserNotActiveError('missing') when there is no user.
   */
  changeStatus(userId: string, status: UserStatus, now: Date): Promise<{ user: UserItem; changed: boolean }>;
  /**
   * Record key stamping progress of status `version`: stamped through a key id, or done.
   * False when `version` is no longer the user's (another status change superseded it).
   */
  recordStamping(userId: string, version: number, progress: { through: string } | 'done'): Promise<boolean>;
}

/** Conditions a store reports by throwing: expected by the domain, never shown raw. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The key's hash already exists (a 256-bit collision, or an injected one in tests). */
export class KeyCollisionError extends StoreError {}
/** The foreign key failed: the user is missing or not active. */
export class UserNotActiveError extends StoreError {
  constructor(readonly reason: 'missing' | 'suspended') {
    super(reason === 'missing' ? 'user does not exist' : 'user is suspended');
  }
}
export class UserExistsError extends StoreError {}
/**
 * The conditional update found the key in another state than required. `current` is the item
 * as the refused write found it (absent when there is no such key), from that same write.
 */
export class KeyStateError extends StoreError {
  readonly current: ApiKeyItem | undefined;

  constructor(message: string, options?: { cause?: unknown; current?: ApiKeyItem | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.current = options?.current;
  }
}
/** Concurrent writes to the same items kept cancelling the transaction (retried, then reported). */
export class StoreConflictError extends StoreError {}
