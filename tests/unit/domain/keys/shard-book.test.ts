/**
 * What a container knows of a sharded key's shards (shared/domain/keys/shard-book.ts): calls
 * go only where the shard seen has room beyond the writes already on their way, a fresh
 * window takes one write at a time, and with no room anywhere a call waits for an answer
 * rather than writing; a spent shard is left alone at most 1 s, a throttled one 250 ms.
 */
import { describe, expect, it } from 'vitest';
import { windowStartOf } from '../../../../shared/domain/keys/limits.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import { createShardBook } from '../../../../shared/domain/keys/shard-book.js';

const NOW = new Date('2026-12-07T12:10:00.000Z');
const NOW_MS = NOW.getTime();
const WINDOW = windowStartOf(NOW, 3600);

const head: ApiKeyItem = {
  key_hash: 'h',
  hash_version: 1,
  key_id: 'key_h',
  user_id: 'u1',
  project_id: 'p1',
  status: 'active',
  start: 'kg_test_AbCd',
  created_at: '2026-12-01T00:00:00.000Z',
  usage_count: 0,
  shards: 2,
  rate_limit: 4,
  rate_window: 3600,
};

/** Shard `index` with `free` left of a slice of 2 in the current window; `free` undefined: no window yet. */
function shard(index: number, free?: number): ApiKeyItem {
  return {
    ...head,
    key_hash: `h#${index}`,
    shard_of: 'h',
    shard: index,
    rate_limit: 2,
    key_rate_limit: 4,
    ...(free !== undefined ? { rate_window_start: WINDOW, rate_count: 2 - free, rate_free: free } : {}),
  };
}

/** A book with the key learnt; `random` always picks the first open shard. */
function bookWith(...items: ApiKeyItem[]) {
  const book = createShardBook({ maxEntries: 10, random: () => 0 });
  book.learn('h', head, items, NOW);
  return book;
}

describe('the shard book', () => {
  it('sends no more writes to a shard than it was seen to have left', () => {
    const book = bookWith(shard(0, 2), shard(1, 0));
    const first = book.choose('h', NOW, NOW_MS);
    expect(first).toMatchObject({ kind: 'write', shard: 0, plan: { rate: { fresh: false } } });
    book.sent('h', 0, NOW_MS);
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({ kind: 'write', shard: 0 });
    book.sent('h', 0, NOW_MS);
    // Shard 0 has both its units on their way, shard 1 was seen spent: wait for an answer.
    expect(book.choose('h', NOW, NOW_MS)).toEqual({ kind: 'wait' });
  });

  it('lets one write at a time start a fresh window on a shard', () => {
    const book = bookWith(shard(0), shard(1, 0));
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({
      kind: 'write',
      shard: 0,
      plan: { rate: { fresh: true } },
    });
    book.sent('h', 0, NOW_MS);
    expect(book.choose('h', NOW, NOW_MS)).toEqual({ kind: 'wait' });
    // The fresh write answered with one left: the next goes to the current window.
    book.answered('h', 0, { item: shard(0, 1) }, NOW);
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({
      kind: 'write',
      shard: 0,
      plan: { rate: { fresh: false } },
    });
  });

  it('wakes a waiting call when a pending write answers, and rejects it when its budget ends', async () => {
    const book = bookWith(shard(0, 1), shard(1, 0));
    book.sent('h', 0, NOW_MS);
    const woken = book.nextAnswer('h', NOW_MS);
    book.answered('h', 0, { item: shard(0, 0) }, NOW);
    await expect(woken).resolves.toBeUndefined();

    book.sent('h', 0, NOW_MS);
    const budget = new AbortController();
    const waiting = book.nextAnswer('h', NOW_MS, budget.signal);
    budget.abort(new Error('budget over'));
    await expect(waiting).rejects.toThrow('budget over');
  });

  it('answers spent when every shard was seen spent and nothing is pending, then probes again after 1 s', () => {
    const book = bookWith(shard(0, 1), shard(1, 0));
    book.sent('h', 0, NOW_MS);
    book.answered('h', 0, { item: shard(0, 0) }, NOW);
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({ kind: 'spent', reason: 'rate_limited' });
    // An `update` may have refilled a shard: after SPENT_LIMIT_MAX_MS one write finds out.
    const later = new Date(NOW_MS + 1_000);
    expect(book.choose('h', later, later.getTime())).toMatchObject({ kind: 'write' });
  });

  it('leaves a throttled shard alone for 250 ms and fails closed when only throttled shards have room', () => {
    const book = bookWith(shard(0, 2), shard(1, 0));
    book.sent('h', 0, NOW_MS);
    book.answered('h', 0, { throttledUntil: NOW_MS + 250 }, NOW);
    expect(book.choose('h', NOW, NOW_MS)).toEqual({ kind: 'throttled' });
    const later = new Date(NOW_MS + 250);
    expect(book.choose('h', later, later.getTime())).toMatchObject({ kind: 'write', shard: 0 });
  });

  it('answers spent, not throttled, when the throttled shards were seen spent too', () => {
    const book = bookWith(shard(0, 1), shard(1, 0));
    book.sent('h', 0, NOW_MS);
    book.answered('h', 0, { item: shard(0, 0) }, NOW);
    book.sent('h', 1, NOW_MS);
    book.answered('h', 1, { throttledUntil: NOW_MS + 250 }, NOW);
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({ kind: 'spent', reason: 'rate_limited' });
  });

  it('probes a shard it has not seen with one write at a time', () => {
    const book = bookWith(shard(1, 0));
    expect(book.choose('h', NOW, NOW_MS)).toMatchObject({ kind: 'write', shard: 0 });
    book.sent('h', 0, NOW_MS);
    expect(book.choose('h', NOW, NOW_MS)).toEqual({ kind: 'wait' });
  });

  it('puts no bound on the writes to a shard of a key without limits', () => {
    const unlimited = { ...head, rate_limit: undefined, rate_window: undefined };
    const book = createShardBook({ maxEntries: 10, random: () => 0.99 });
    book.learn('h', unlimited, [], NOW);
    for (let call = 0; call < 50; call += 1) {
      const choice = book.choose('h', NOW, NOW_MS);
      expect(choice).toMatchObject({ kind: 'write', shard: 1 });
      book.sent('h', 1, NOW_MS);
    }
  });
});
