/** The stored shapes of SPEC §5 (types and their constants only; the rules live beside them). */

/** A key's environment (SPEC §5): `live` keys for prod, `test` keys for every other stage. */
export const KEY_ENVIRONMENTS = ['live', 'test'] as const;
export type KeyEnvironment = (typeof KEY_ENVIRONMENTS)[number];

export type KeyStatus = 'active' | 'revoked';

export const QUOTA_PERIODS = ['day', 'month', 'total'] as const;
export type QuotaPeriod = (typeof QUOTA_PERIODS)[number];

/** Allow-lists (SPEC §5); an absent list allows everything. A model entry may end in `*` (prefix). */
export interface KeyScopes {
  providers?: string[];
  models?: string[];
  operations?: string[];
}
export type UserStatus = 'active' | 'suspended';

/** An item of the ApiKeys table (attribute names as stored). Kept well under 1 KB. */
export interface ApiKeyItem {
  key_hash: string;
  hash_version: number;
  key_id: string;
  user_id: string;
  project_id: string;
  /** Created with an explicit `projectId`: a request naming another project is refused. */
  project_bound?: boolean;
  name?: string;
  status: KeyStatus;
  start: string;
  created_at: string;
  last_used_at?: string;
  usage_count: number;
  expires_at?: string;
  revoked_at?: string;
  revoked_reason?: string;
  /** Set once when a rotation retires this key, so two rotations cannot retire it twice. */
  rotated_at?: string;
  /** The key that replaced this one in a rotation. */
  replaced_by?: string;
  /**
   * A named rotation's claim (docs/decisions/0006): who is rotating this key, until when the
   * claim holds, and the id of the key it issues. Claims do not change verification.
   */
  rotation_id?: string;
  rotation_until?: string;
  rotation_key_id?: string;
  /** Denormalised from the user so verification stays one UpdateItem (see docs). */
  user_suspended?: boolean;
  /** The user's `status_version` that last stamped this key: older stamps never overwrite newer. */
  user_status_version?: number;
  /** Rate limit: at most `rate_limit` admitted calls per fixed window of `rate_window` seconds. */
  rate_limit?: number;
  rate_window?: number;
  /** The window counted in `rate_count` (epoch seconds of its start). */
  rate_window_start?: number;
  rate_count?: number;
  /** Quota: at most `quota_limit` admitted calls per `quota_period`. */
  quota_limit?: number;
  quota_period?: QuotaPeriod;
  /** The period counted in `quota_used`: `YYYY-MM-DD`, `YYYY-MM` or `total`. */
  quota_period_start?: string;
  quota_used?: number;
  scopes?: KeyScopes;
  /**
   * Spend budget (SPEC §5b): the budget item this key draws on (shared with the key it was
   * rotated from or to), and copies of its limit (micro-dollars), period and per-call hold,
   * which the request path uses as a first guess; the budget item is the truth.
   */
  budget_id?: string;
  budget_limit?: number;
  budget_period?: QuotaPeriod;
  budget_hold?: number;
  /**
   * Hot keys (docs/decisions/0012-sharded-keys.md). On the key's own item: its shard count S
   * (2–64); its limits are then the key's whole limits and it counts nothing itself. On each
   * of the S shard items (`<key_hash>#<i>`): `shard_of` (the key's hash), `shard` (i), copies
   * of everything the verify write checks, `rate_limit`/`quota_limit` as the shard's slice for
   * a fresh window and `rate_free`/`quota_free` as what the slice has left in the current one
   * (conditions cannot subtract). No `created_at`: shard items stay out of the user index.
   */
  shards?: number;
  shard_of?: string;
  shard?: number;
  rate_free?: number;
  quota_free?: number;
  /** On shard items: the key's whole limits, which the answer headers show. */
  key_rate_limit?: number;
  key_quota_limit?: number;
  /**
   * Bumped by every change of the key's item that its shards copy: a shard takes a copy only
   * if it is not older than the one it has, so two changes reach the shards in their order.
   */
  config_version?: number;
}

/** The item shard `shard` of a sharded key counts on (docs/decisions/0012-sharded-keys.md). */
export const shardHashOf = (keyHash: string, shard: number): string => `${keyHash}#${shard}`;

/** Shard `index`'s slice of `limit` over `shards`: floor(limit / S), plus 1 on the first limit mod S. */
export const sliceOf = (limit: number, shards: number, index: number): number =>
  Math.floor(limit / shards) + (index < limit % shards ? 1 : 0);

/** What every shard item copies from its key's item: all the verify write checks and the answer needs. */
export const SHARD_COPIED_FIELDS = [
  'hash_version',
  'key_id',
  'user_id',
  'project_id',
  'project_bound',
  'status',
  'start',
  'expires_at',
  'revoked_at',
  'revoked_reason',
  'user_suspended',
  'user_status_version',
  'rate_window',
  'quota_period',
  'scopes',
  'budget_id',
  'budget_limit',
  'budget_period',
  'budget_hold',
] as const satisfies readonly (keyof ApiKeyItem)[];

/** An item of the UserKeys table: one key of a user, by id (fixed size, never grows). */
export interface KeyRefItem {
  user_id: string;
  key_id: string;
  key_hash: string;
  created_at: string;
}

export interface UserItem {
  user_id: string;
  status: UserStatus;
  default_project_id?: string;
  created_at: string;
  suspended_at?: string;
  /** Bumped by every status change; a key stamp carries the version it was made for. */
  status_version?: number;
  /** The version whose key stamping finished; behind `status_version` while stamping is pending. */
  keys_stamped_version?: number;
  /** While stamping is pending: the last key id (in key id order) of the stamped prefix. */
  keys_stamped_through?: string;
}

/** The user's status version (0 before the first change). */
export const statusVersionOf = (user: UserItem): number => user.status_version ?? 0;

/** True while the user's keys do not all carry its current status yet (a repeat finishes it). */
export const keyStampingPending = (user: UserItem): boolean =>
  (user.keys_stamped_version ?? 0) !== statusVersionOf(user);

/** A key's project when neither the create event nor the user names one (SPEC §5). */
export const DEFAULT_PROJECT_ID = 'default';
