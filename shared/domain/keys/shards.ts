/**
 * Hot keys (SPEC §5, docs/decisions/0012-sharded-keys.md): a key with `shards: S` counts on S
 * shard items, each admitted call on exactly one of them, so one key carries ~S × the
 * per-item write ceiling. Each shard holds a slice of every limit; the slices add up to the
 * limit, so the shards together admit exactly what the key may. This module holds the
 * arithmetic both the verifier and keys-admin share.
 */
import { type ApiKeyItem, SHARD_COPIED_FIELDS, shardHashOf, sliceOf } from './model.js';

export { shardHashOf, sliceOf } from './model.js';

export const MIN_SHARDS = 1;
export const MAX_SHARDS = 64;

/** A key's shard count: 1 for a key counted on its own item. */
export const shardCountOf = (item: Pick<ApiKeyItem, 'shards'>): number => item.shards ?? 1;

/** True for a shard item (not the key's own item). */
export const isShardItem = (item: Pick<ApiKeyItem, 'shard_of'>): boolean => item.shard_of !== undefined;

/** `limit` split over `shards`: floor(limit / S) each, the remainder one each on the first shards. */
export function slicesOf(limit: number, shards: number): number[] {
  return Array.from({ length: shards }, (_, index) => sliceOf(limit, shards, index));
}

/** The key's fields a shard carries, as of `head` (its counters are the shard's own). */
export function shardCopyOf(head: ApiKeyItem): Partial<ApiKeyItem> {
  const copy: Partial<ApiKeyItem> = {};
  for (const name of SHARD_COPIED_FIELDS) {
    if (head[name] !== undefined) (copy as Record<string, unknown>)[name] = head[name];
  }
  return copy;
}

/**
 * The fresh shard items of a key created with `shards` (≥ 2): each counts nothing yet and
 * holds its slice of each limit, to be taken in the first window it counts.
 */
export function newShardItems(head: ApiKeyItem, shards: number): ApiKeyItem[] {
  return Array.from({ length: shards }, (_, index) => ({
    ...(shardCopyOf(head) as ApiKeyItem),
    key_hash: shardHashOf(head.key_hash, index),
    shard_of: head.key_hash,
    shard: index,
    shards,
    usage_count: 0,
    ...(head.rate_limit !== undefined
      ? { rate_limit: sliceOf(head.rate_limit, shards, index), key_rate_limit: head.rate_limit }
      : {}),
    ...(head.quota_limit !== undefined
      ? { quota_limit: sliceOf(head.quota_limit, shards, index), key_quota_limit: head.quota_limit }
      : {}),
  }));
}

/** Sums of the shards' counters: what `usage_count`, `last_used_at` and the counters of a sharded key are. */
export interface ShardTotals {
  usageCount: number;
  lastUsedAt?: string;
}

/**
 * A key's usage: its own item's (what it counted before it was sharded, and what removed
 * shards handed back) plus every shard's.
 */
export function totalsOf(head: ApiKeyItem, shards: readonly ApiKeyItem[]): ShardTotals {
  let usageCount = 0;
  let lastUsedAt: string | undefined;
  for (const shard of [head, ...shards]) {
    usageCount += shard.usage_count ?? 0;
    if (shard.last_used_at !== undefined && (lastUsedAt === undefined || shard.last_used_at > lastUsedAt)) {
      lastUsedAt = shard.last_used_at;
    }
  }
  return { usageCount, ...(lastUsedAt !== undefined ? { lastUsedAt } : {}) };
}
