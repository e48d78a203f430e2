/**
 * The CLI's progress line: on a terminal one rewritten line of stderr (shown at once or after
 * ~1 s, with the call's elapsed seconds), cleared before the result; anywhere else nothing at
 * all. Streams stand in for stderr (isTTY true or false) and fake timers for the clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, type ProgressStream, REWRITE_LINE } from '../../../ops/progress.js';

/** A stream that records what is written to it. */
function stream(isTTY: boolean, columns?: number): ProgressStream & { chunks: string[] } {
  const chunks: string[] = [];
  return { isTTY, ...(columns ? { columns } : {}), chunks, write: (text: string) => chunks.push(text) };
}

/** A call that answers `value` after `ms` of (fake) time. */
const callTaking =
  <T>(ms: number, value: T) =>
  () =>
    new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-30T12:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('progress on a terminal', () => {
  it('shows nothing for a call that answers within a second', async () => {
    const out = stream(true);
    const progress = createProgress({ stream: out });

    const answer = progress.step('create u1: waiting for keys-admin…', callTaking(900, 'done'));
    await vi.advanceTimersByTimeAsync(900);

    expect(await answer).toBe('done');
    expect(progress.shown).toBe(true);
    expect(out.chunks).toEqual([]);
    progress.clear();
    expect(out.chunks).toEqual([]);
  });

  it('shows a call still running after ~1 s with its elapsed seconds, rewriting one line', async () => {
    const out = stream(true);
    const progress = createProgress({ stream: out });

    const answer = progress.step('rotate u1: waiting for keys-admin…', callTaking(3_100, 'rotated'));
    await vi.advanceTimersByTimeAsync(3_100);

    expect(await answer).toBe('rotated');
    expect(out.chunks).toEqual([
      `${REWRITE_LINE}rotate u1: waiting for keys-admin… 1 s`,
      `${REWRITE_LINE}rotate u1: waiting for keys-admin… 2 s`,
      `${REWRITE_LINE}rotate u1: waiting for keys-admin… 3 s`,
    ]);
    expect(out.chunks.join('')).not.toContain('\n');
  });

  it('shows a step marked long at once, then ticks', async () => {
    const out = stream(true);
    const progress = createProgress({ stream: out });

    const answer = progress.step('rotate u1: waiting for keys-admin…', callTaking(1_500, 'ok'), {
      immediately: true,
    });
    expect(out.chunks).toEqual([`${REWRITE_LINE}rotate u1: waiting for keys-admin…`]);
    await vi.advanceTimersByTimeAsync(1_500);
    await answer;

    expect(out.chunks.at(-1)).toBe(`${REWRITE_LINE}rotate u1: waiting for keys-admin… 1 s`);
  });

  it('stops ticking when the call ends, and clears the line once', async () => {
    const out = stream(true);
    const progress = createProgress({ stream: out });

    await Promise.all([
      progress.step('suspend-user u1: 4000 keys updated (call 2)…', callTaking(10, 'ok'), {
        immediately: true,
      }),
      vi.advanceTimersByTimeAsync(10),
    ]);
    await vi.advanceTimersByTimeAsync(5_000);
    progress.clear();
    progress.clear();

    expect(out.chunks).toEqual([`${REWRITE_LINE}suspend-user u1: 4000 keys updated (call 2)…`, REWRITE_LINE]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops ticking when the call fails, and passes the failure on', async () => {
    const progress = createProgress({ stream: stream(true) });

    const failing = progress.step('usage u1: waiting for keys-admin…', async () => {
      throw new Error('unreachable');
    });

    await expect(failing).rejects.toThrow('unreachable');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cuts a line wider than the terminal, so it can be rewritten', async () => {
    const out = stream(true, 20);
    const progress = createProgress({ stream: out });

    await progress.step('usage a-very-long-user-name: 3000 keys read…', async () => 'ok', {
      immediately: true,
    });

    expect(out.chunks).toEqual([`${REWRITE_LINE}usage a-very-long-…`]);
  });

  it('takes an injected clock and ticker instead of the real ones', async () => {
    vi.useRealTimers();
    const out = stream(true);
    let now = 0;
    const ticks: (() => void)[] = [];
    const progress = createProgress({
      stream: out,
      now: () => now,
      ticker: (tick) => {
        ticks.push(tick);
        return () => ticks.splice(0);
      },
    });
    let finish: (value: string) => void = () => undefined;

    const answer = progress.step(
      'usage u1: waiting for keys-admin…',
      () =>
        new Promise<string>((resolve) => {
          finish = resolve;
        }),
    );
    now = 500;
    for (const tick of ticks) tick();
    now = 12_400;
    for (const tick of ticks) tick();
    finish('ok');
    await answer;

    expect(out.chunks).toEqual([`${REWRITE_LINE}usage u1: waiting for keys-admin… 12 s`]);
    expect(ticks).toEqual([]);
  });
});

describe('progress when stderr is not a terminal', () => {
  it.each([
    ['a pipe (isTTY false)', false],
    ['a stream without isTTY', undefined],
  ])('writes nothing and runs no timer for %s', async (_case, isTTY) => {
    const out = {
      chunks: [] as string[],
      ...(isTTY === undefined ? {} : { isTTY }),
      write(text: string) {
        this.chunks.push(text);
      },
    };
    const progress = createProgress({ stream: out });

    const answer = progress.step('rotate u1: waiting for keys-admin…', callTaking(5_000, 'ok'), {
      immediately: true,
    });
    expect(vi.getTimerCount()).toBe(1); // the call's own timer only
    await vi.advanceTimersByTimeAsync(5_000);
    progress.clear();

    expect(await answer).toBe('ok');
    expect(progress.shown).toBe(false);
    expect(out.chunks).toEqual([]);
  });
});
