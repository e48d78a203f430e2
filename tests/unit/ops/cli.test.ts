/**
 * The CLI's output around long actions, with keys-admin and stderr replaced: in a pipe the
 * result ends with one plain summary line and no control characters; on a terminal the
 * progress line is cleared before the result and no summary follows; `--json` prints the one
 * merged answer alone. Exit codes stay 0 / 1 / 2.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../ops/cli.js';
import type { InvokeResult, Invoker } from '../../../ops/invoke.js';
import { createProgress, REWRITE_LINE } from '../../../ops/progress.js';

const USER = {
  userId: 'u1',
  status: 'suspended',
  defaultProjectId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
};

let stdout: string[];
let stderr: string[];
beforeEach(() => {
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => stdout.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => stderr.push(line));
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** keys-admin answering `answers` in turn; counts calls and whether it was closed. */
function invoker(...answers: InvokeResult[]): Invoker & { calls: number; closed: boolean } {
  const fake = {
    calls: 0,
    closed: false,
    async invoke() {
      fake.calls += 1;
      const answer = answers[Math.min(fake.calls, answers.length) - 1];
      if (!answer) throw new Error('no scripted answer');
      return answer;
    },
    close() {
      fake.closed = true;
    },
  };
  return fake;
}

/** stderr as a terminal (or not), recording what progress writes to it. */
function stderrStream(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    progress: createProgress({ stream: { isTTY, write: (text: string) => chunks.push(text) } }),
  };
}

const suspension = () =>
  invoker(
    { payload: { ok: true, user: USER, keysUpdated: 4000, complete: false } },
    { payload: { ok: true, user: USER, keysUpdated: 4000, complete: false } },
    { payload: { ok: true, user: USER, keysUpdated: 2000, complete: true } },
  );

describe('ops CLI output of long actions', () => {
  it('ends with a plain summary line when stderr is not a terminal, writing no progress', async () => {
    const admin = suspension();
    const err = stderrStream(false);

    const code = await main(['suspend-user', '--user', 'u1'], {
      invokerFor: () => admin,
      progress: err.progress,
    });

    expect(code).toBe(0);
    expect(admin).toMatchObject({ calls: 3, closed: true });
    expect(stdout.at(-2)).toMatch(/Keys updated: 10000 \(complete\)$/);
    expect(stdout.at(-1)).toBe('suspend-user u1: 10000 keys updated in 3 calls (complete)');
    expect(err.chunks).toEqual([]);
    const printed = [...stdout, ...stderr].join('\n');
    expect(printed.includes('\r') || printed.includes('\u001b')).toBe(false);
  });

  it('clears the progress line before the result on a terminal, and prints no summary', async () => {
    const err = stderrStream(true);
    const order: string[] = [];
    const write = (text: string) => {
      err.chunks.push(text);
      order.push('progress');
    };
    const progress = createProgress({ stream: { isTTY: true, write } });
    vi.mocked(console.log).mockImplementation((line: string) => {
      stdout.push(line);
      order.push('stdout');
    });

    const code = await main(['suspend-user', '--user', 'u1'], { invokerFor: suspension, progress });

    expect(code).toBe(0);
    expect(err.chunks.at(-1)).toBe(REWRITE_LINE);
    expect(order.indexOf('stdout')).toBeGreaterThan(order.lastIndexOf('progress'));
    expect(stdout).toHaveLength(1);
    expect(stdout[0]).toMatch(/\nKeys updated: 10000 \(complete\)$/);
  });

  it('prints the one merged answer alone with --json', async () => {
    const err = stderrStream(false);

    const code = await main(['suspend-user', '--user', 'u1', '--json'], {
      invokerFor: suspension,
      progress: err.progress,
    });

    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    expect(JSON.parse(stdout[0] ?? '')).toEqual({
      ok: true,
      user: USER,
      keysUpdated: 10_000,
      complete: true,
    });
  });

  it('exits 1 with the refusal, after noting what earlier calls did', async () => {
    const admin = invoker(
      { payload: { ok: true, user: USER, keysUpdated: 4000, complete: false } },
      { payload: { ok: false, error: { code: 'user_status_changed', message: 'reactivated meanwhile' } } },
    );

    const code = await main(['suspend-user', '--user', 'u1'], {
      invokerFor: () => admin,
      progress: stderrStream(false).progress,
    });

    expect(code).toBe(1);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([
      'suspend-user u1: 4000 keys updated in 1 call before this failure.',
      'error user_status_changed: reactivated meanwhile',
    ]);
  });

  it('exits 1 when keys-admin cannot be reached, and 2 for bad flags', async () => {
    const unreachable: Invoker = {
      invoke: async () => {
        throw new Error('Cannot reach the local Invoke API at http://127.0.0.1:1');
      },
      close: () => undefined,
    };

    const unreached = await main(['usage', '--user', 'u1'], {
      invokerFor: () => unreachable,
      progress: stderrStream(false).progress,
    });
    const bad = await main(['usage', '--user', 'u1', '--grace', '1'], { invokerFor: () => unreachable });

    expect([unreached, bad]).toEqual([1, 2]);
    expect(stderr[0]).toBe('Cannot reach the local Invoke API at http://127.0.0.1:1');
  });
});
