/**
 * Which shard of a sharded key the next verify write counts on (docs/decisions/0012): a
 * random one among those this container has not seen spent. A spent shard is skipped until
 * its window ends, at most 1 s (an `update` may refill it), so a call tries each shard at
 * most once and the calls of one container spread over the shards with slack left.
 */

import { ExpiringMemory } from './refusal-cache.js';
import type { LimitRefusalReason } from './verify.js';

export interface ShardChoiceOptions {
  maxEntries: number;
  random: () => number;
}

interface SpentShards {
  until: Map<number, number>;
  reason: LimitRefusalReason;
}

export function createShardChoice(options: ShardChoiceOptions) {
  const spentOf = new ExpiringMemory<SpentShards>({ maxEntries: options.maxEntries });

  return {
    /** A shard of `shards` not known spent at `nowMs`; undefined when every one is. */
    pick(keyHash: string, shards: number, nowMs: number): number | undefined {
      const spent = spentOf.get(keyHash, nowMs);
      const open: number[] = [];
      for (let index = 0; index < shards; index += 1) {
        const until = spent?.until.get(index);
        if (until === undefined || until <= nowMs) open.push(index);
      }
      if (open.length === 0) return undefined;
      return open[Math.floor(options.random() * open.length)] ?? open[0];
    },

    /** Shard `index` is spent until `until` (epoch ms). */
    spent(keyHash: string, index: number, until: number, reason: LimitRefusalReason, nowMs: number): void {
      const entry = spentOf.get(keyHash, nowMs) ?? { until: new Map<number, number>(), reason };
      entry.until.set(index, until);
      // A spent quota outranks a spent window: waiting out the window does not help it.
      if (reason === 'quota_exceeded') entry.reason = reason;
      const latest = Math.max(...entry.until.values());
      spentOf.set(keyHash, entry, latest);
    },

    /** Why the key's shards were seen spent (the quota first). */
    reasonOf(keyHash: string, nowMs: number): LimitRefusalReason | undefined {
      return spentOf.get(keyHash, nowMs)?.reason;
    },
  };
}
