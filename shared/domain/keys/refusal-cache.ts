/**
 * The authorizer's per-container memory (SPEC §5): refusals that cannot change until a known
 * time, so a flood of one bad or spent key costs no database call. Never an admission, never
 * a suspension (a reactivation must take effect on the next call). Bounded: at most
 * `maxEntries` keys (the oldest entry goes first), each entry until its own expiry.
 */

export interface BoundedMemoryOptions {
  maxEntries: number;
}

/** A Map that forgets its oldest entry past `maxEntries` and each entry at its expiry. */
export class ExpiringMemory<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(private readonly options: BoundedMemoryOptions) {}

  get(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * How long a refusal is remembered. Revoked and unknown keys never come back; an expired key
 * can only through an operator's `update` of its expiry, which a minute's delay is fine for;
 * a spent limit until its window or period ends, at most `SPENT_LIMIT_MAX_MS`: an `update`
 * that raises or clears it is obeyed by every container within that (SPEC §5).
 */
export const REFUSAL_MEMORY_MS = {
  unknown: 300_000,
  revoked: 300_000,
  expired: 60_000,
} as const;
export const SPENT_LIMIT_MAX_MS = 1_000;
/** Keys remembered per container (each entry ~200 bytes: ~2 MB at most). */
export const MEMORY_MAX_ENTRIES = 10_000;
