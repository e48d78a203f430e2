/**
 * What one container knows of a sharded key's shards (docs/decisions/0012): the last state
 * seen of each shard, the writes it has in flight on each, and which are spent or throttled.
 * A call is sent to a shard only while what the shard was seen to have left exceeds the
 * writes already on their way to it, and a shard starting a window takes one write at a
 * time (two fresh-window writes on one item cannot both succeed). A call that finds no
 * shard with room waits for this container's pending writes on the key to answer, then
 * chooses again, instead of spending a write that is bound to be refused: with slow answers
 * the time budget holds one write per call, not one per spent shard.
 */

import { knownLimitsOf, type LimitPlan, planFor, shardLeft, spentLimitOf, spentUntil } from './limits.js';
import type { ApiKeyItem } from './model.js';
import { ExpiringMemory, SPENT_LIMIT_MAX_MS } from './refusal-cache.js';
import type { LimitRefusalReason } from './verify.js';

export interface ShardBookOptions {
  maxEntries: number;
  random: () => number;
}

interface KeyShards {
  count: number;
  /** The key's own item as read when the shard count was learnt (its settings and whole limits). */
  head: ApiKeyItem;
  /** Each shard as last returned by a write or read here; undefined: not seen yet. */
  seen: (ApiKeyItem | undefined)[];
  /** Writes on their way to each shard. */
  pending: number[];
  /** A shard seen spent is not written before this (epoch ms; ≤ 1 s, an `update` may refill it). */
  spentUntil: number[];
  /** A shard DynamoDB throttled is not written before this (epoch ms). */
  throttledUntil: number[];
  /** Calls waiting for one of the pending writes to answer. */
  waiters: Set<() => void>;
}

/** What the next call on a sharded key does. */
export type ShardChoice =
  | { kind: 'write'; shard: number; plan: LimitPlan }
  /** No shard has room but writes are on their way: wait for one to answer, then choose again. */
  | { kind: 'wait' }
  /**
   * Every shard was seen spent and nothing is pending: the key's limit is spent (a spent quota
   * outranks a spent window: waiting does not help it). `item`, `plan`: a shard seen so.
   */
  | { kind: 'spent'; reason: LimitRefusalReason; item: ApiKeyItem; plan: LimitPlan }
  /** Every shard with room is throttled: fail closed. */
  | { kind: 'throttled' };

export function createShardBook(options: ShardBookOptions) {
  const books = new ExpiringMemory<KeyShards>({ maxEntries: options.maxEntries });

  /** The windows a shard not seen yet is guessed to count in: those of any shard seen. */
  function guessOf(book: KeyShards): ApiKeyItem | undefined {
    return book.seen.find((item) => item !== undefined);
  }

  /** How many more writes shard `index` takes now. */
  function roomOf(book: KeyShards, index: number, now: Date, nowMs: number) {
    if ((book.throttledUntil[index] ?? 0) > nowMs || (book.spentUntil[index] ?? 0) > nowMs) return 0;
    const seen = book.seen[index];
    const settings = seen ?? book.head;
    // Without limits any number of writes may be on their way to one shard.
    if (settings.rate_limit === undefined && settings.quota_limit === undefined)
      return Number.POSITIVE_INFINITY;
    const pending = book.pending[index] ?? 0;
    // Not seen yet, or seen spent more than the spent memory ago: one write finds out.
    if (!seen) return pending === 0 ? 1 : 0;
    const plan = planFor(knownLimitsOf(seen), now, index);
    let room = Number.POSITIVE_INFINITY;
    if (plan.rate) {
      room = plan.rate.fresh
        ? Math.min(room, pending === 0 ? shardLeft(seen.rate_limit, undefined, true) : 0)
        : Math.min(room, shardLeft(undefined, seen.rate_free, false) - pending);
    }
    if (plan.quota) {
      room = plan.quota.fresh
        ? Math.min(room, pending === 0 ? shardLeft(seen.quota_limit, undefined, true) : 0)
        : Math.min(room, shardLeft(undefined, seen.quota_free, false) - pending);
    }
    if (room <= 0 && pending === 0) return 1;
    return Math.max(0, room);
  }

  /**
   * Shard `index` as just seen: with nothing left it is spent until its window ends, at most
   * SPENT_LIMIT_MAX_MS (an `update` may refill it); with room it is open again.
   */
  function see(book: KeyShards, index: number, item: ApiKeyItem, now: Date): void {
    book.seen[index] = item;
    const plan = planFor(knownLimitsOf(item), now, index);
    const spent = spentLimitOf(item, plan);
    book.spentUntil[index] = spent
      ? Math.min(
          spentUntil(spent.reason, plan) ?? Number.POSITIVE_INFINITY,
          now.getTime() + SPENT_LIMIT_MAX_MS,
        )
      : 0;
  }

  return {
    /**
     * The container learns the key is sharded (`head`: its own item, naming the shard count);
     * `items`: the shards it read (may be fewer). A shard read spent is spent as if written.
     */
    learn(keyHash: string, head: ApiKeyItem, items: readonly ApiKeyItem[], now: Date): void {
      const nowMs = now.getTime();
      const count = head.shards ?? 1;
      const previous = books.get(keyHash, nowMs);
      const book: KeyShards = {
        count,
        head,
        seen: Array.from({ length: count }, () => undefined),
        pending: Array.from({ length: count }, (_, index) => previous?.pending[index] ?? 0),
        spentUntil: Array.from({ length: count }, () => 0),
        throttledUntil: Array.from({ length: count }, () => 0),
        waiters: previous?.waiters ?? new Set(),
      };
      for (const item of items)
        if (item.shard !== undefined && item.shard < count) see(book, item.shard, item, now);
      books.set(keyHash, book, Number.POSITIVE_INFINITY);
    },

    /** The shards as just read (a book grown stale): each taken as seen; pending writes stay. */
    refresh(keyHash: string, items: readonly ApiKeyItem[], now: Date): void {
      const book = books.get(keyHash, now.getTime());
      if (!book) return;
      for (const item of items)
        if (item.shard !== undefined && item.shard < book.count) see(book, item.shard, item, now);
    },

    /** Whether shard `shard` was seen spent (and is left alone for now). */
    isSpent(keyHash: string, shard: number, nowMs: number): boolean {
      return (books.get(keyHash, nowMs)?.spentUntil[shard] ?? 0) > nowMs;
    },

    /** The shard count this container knows for the key; undefined: not known as sharded. */
    countOf(keyHash: string, nowMs: number): number | undefined {
      return books.get(keyHash, nowMs)?.count;
    },

    forget(keyHash: string): void {
      const book = books.get(keyHash, 0);
      books.delete(keyHash);
      // Waiting calls choose again and find the key unknown: they ask its own item.
      for (const wake of book?.waiters ?? []) wake();
    },

    /** Where the next write on the key goes; undefined when the key is not known as sharded here. */
    choose(keyHash: string, now: Date, nowMs: number): ShardChoice | undefined {
      const book = books.get(keyHash, nowMs);
      if (!book) return undefined;
      const open: number[] = [];
      for (let index = 0; index < book.count; index += 1) {
        if (roomOf(book, index, now, nowMs) > 0) open.push(index);
      }
      if (open.length > 0) {
        const shard = open[Math.floor(options.random() * open.length)] ?? (open[0] as number);
        const seen = book.seen[shard] ?? guessOf(book) ?? book.head;
        return { kind: 'write', shard, plan: planFor(knownLimitsOf(seen), now, shard) };
      }
      if (book.pending.some((count) => count > 0)) return { kind: 'wait' };
      // A throttled shard may still have room, unless it was also seen spent: then it is no reason to fail.
      const throttledWithRoom = book.throttledUntil.some(
        (until, index) => until > nowMs && (book.spentUntil[index] ?? 0) <= nowMs,
      );
      if (throttledWithRoom) return { kind: 'throttled' };
      let spent: Extract<ShardChoice, { kind: 'spent' }> | undefined;
      for (const [index, item] of book.seen.entries()) {
        if (!item) continue;
        const plan = planFor(knownLimitsOf(item), now, index);
        const reason = spentLimitOf(item, plan)?.reason;
        if (reason && (!spent || reason === 'quota_exceeded')) spent = { kind: 'spent', reason, item, plan };
      }
      // Every shard is spent in memory, so each was seen: a shard seen spent is there.
      return spent ?? { kind: 'throttled' };
    },

    /** A write to `shard` leaves. */
    sent(keyHash: string, shard: number, nowMs: number): void {
      const book = books.get(keyHash, nowMs);
      if (book && shard < book.count) book.pending[shard] = (book.pending[shard] ?? 0) + 1;
    },

    /**
     * The write to `shard` answered: `item`, the shard as it returned (admitted or refused), or
     * `throttledUntil` when DynamoDB throttled it; neither when its outcome is unknown. Waiting
     * calls choose again.
     */
    answered(
      keyHash: string,
      shard: number,
      outcome: { item?: ApiKeyItem; throttledUntil?: number },
      now: Date,
    ): void {
      const nowMs = now.getTime();
      const book = books.get(keyHash, nowMs);
      if (!book) return;
      if (shard < book.count) {
        book.pending[shard] = Math.max(0, (book.pending[shard] ?? 0) - 1);
        if (outcome.item) see(book, shard, outcome.item, now);
        if (outcome.throttledUntil !== undefined) book.throttledUntil[shard] = outcome.throttledUntil;
      }
      const waiting = [...book.waiters];
      book.waiters.clear();
      for (const wake of waiting) wake();
    },

    /** Resolves when one of the key's pending writes answers; rejects when `signal` ends first. */
    nextAnswer(keyHash: string, nowMs: number, signal?: AbortSignal): Promise<void> {
      const book = books.get(keyHash, nowMs);
      if (!book) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          book.waiters.delete(wake);
          reject(signal?.reason ?? new Error('the verify budget ended while waiting for a shard'));
        };
        if (signal?.aborted) return abort();
        book.waiters.add(wake);
        signal?.addEventListener('abort', abort, { once: true });
      });
    },
  };
}

export type ShardBook = ReturnType<typeof createShardBook>;
