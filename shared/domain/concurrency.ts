/**
 * Bounded parallelism for the per-key writes of suspension and rotation: at most `limit`
 * calls in flight (DynamoDB on-demand absorbs this; a user with 10,000 keys finishes in
 * seconds instead of minutes). After the first failure no new call starts; the ones in
 * flight finish, then that failure is thrown, so callers can trust what completed.
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await run(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * A producer's values for one consumer, in order, as an async iterable. The producer never
 * waits for the consumer: a consumer that stops reading (a client gone mid-stream) leaves the
 * producer to finish its work (settle a budget, store an answer), its later values dropped.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly values: T[] = [];
  private ended = false;
  private abandoned = false;
  private wake: (() => void) | undefined;

  push(value: T): void {
    if (this.ended || this.abandoned) return;
    this.values.push(value);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        const value = this.values.shift();
        if (value !== undefined) {
          yield value;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
      }
    } finally {
      // The consumer stopped (or finished): nothing more is kept for it.
      this.abandoned = true;
      this.values.length = 0;
    }
  }
}
