/**
 * How many keys-admin calls an action takes, and the one answer the CLI prints: `usage` reads
 * every page, a suspension is repeated while it answers `complete: false` (bounded), and a
 * failing call ends the run saying what the calls before it did. keys-admin is a scripted
 * stand-in; progress is recorded by a terminal stand-in.
 */
import { describe, expect, it } from 'vitest';
import type { InvokeResult } from '../../../ops/invoke.js';
import { createProgress, REWRITE_LINE } from '../../../ops/progress.js';
import { MAX_REPEATED_CALLS, runAction } from '../../../ops/run.js';
import type { KeyUsage } from '../../../shared/domain/keys/usage.js';

const USER = {
  userId: 'u1',
  status: 'suspended',
  defaultProjectId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
};

/** keys-admin answering `answers` in turn (the last one again when they run out), recording each event. */
function keysAdmin(...answers: (InvokeResult | Error)[]) {
  const events: Record<string, unknown>[] = [];
  return {
    events,
    invoke: async (event: Record<string, unknown>): Promise<InvokeResult> => {
      events.push(event);
      const next = answers[Math.min(events.length, answers.length) - 1];
      if (next instanceof Error) throw next;
      if (!next) throw new Error('no scripted answer');
      return next;
    },
  };
}

/** A terminal stand-in for stderr: what the progress line showed, and what was noted. */
function terminal(isTTY = true) {
  const chunks: string[] = [];
  const notes: string[] = [];
  const progress = createProgress({ stream: { isTTY, write: (text: string) => chunks.push(text) } });
  return { progress, chunks, notes, note: (line: string) => notes.push(line) };
}

const ok = (fields: Record<string, unknown>): InvokeResult => ({ payload: { ok: true, ...fields } });
const stamped = (keysUpdated: number, complete: boolean) => ok({ user: USER, keysUpdated, complete });
const keyUsage = (keyId: string): KeyUsage => ({
  keyId,
  name: null,
  status: 'active',
  start: 'kg_test_AbCd',
  projectId: 'default',
  usageCount: 0,
  lastUsedAt: null,
  rateLimit: null,
  quota: null,
  budget: null,
  refusing: null,
  shards: 1,
});
const keys = (from: number, count: number) =>
  Array.from({ length: count }, (_, index) => keyUsage(`key_${from + index}`));

describe('suspend-user and reactivate-user', () => {
  it.each(['suspend-user', 'reactivate-user'] as const)(
    '%s repeats the same event while it is not complete, summing the keys updated',
    async (action) => {
      const admin = keysAdmin(stamped(4000, false), stamped(4000, false), stamped(2000, true));
      const term = terminal();

      const run = await runAction(
        { action, event: { action, userId: 'u1' } },
        { ...term, invoke: admin.invoke },
      );

      expect(admin.events).toEqual(Array.from({ length: 3 }, () => ({ action, userId: 'u1' })));
      expect(run).toEqual({
        result: { payload: { ok: true, user: USER, keysUpdated: 10_000, complete: true } },
        calls: 3,
        summary: `${action} u1: 10000 keys updated in 3 calls (complete)`,
      });
      expect(term.chunks).toEqual([
        `${REWRITE_LINE}${action} u1: 4000 keys updated (call 2)…`,
        `${REWRITE_LINE}${action} u1: 8000 keys updated (call 3)…`,
      ]);
    },
  );

  it('makes one call when the first answer is complete', async () => {
    const admin = keysAdmin(stamped(2, true));

    const run = await runAction(
      { action: 'suspend-user', event: { action: 'suspend-user', userId: 'u1' } },
      { ...terminal(false), invoke: admin.invoke },
    );

    expect(run.calls).toBe(1);
    expect(run.summary).toBe('suspend-user u1: 2 keys updated in 1 call (complete)');
  });

  it(`stops after ${MAX_REPEATED_CALLS} calls, answering not complete and saying to repeat it`, async () => {
    const admin = keysAdmin(stamped(10, false));

    const run = await runAction(
      { action: 'suspend-user', event: { action: 'suspend-user', userId: 'u1' } },
      { ...terminal(false), invoke: admin.invoke },
    );

    expect(admin.events).toHaveLength(MAX_REPEATED_CALLS);
    expect(run.result.payload).toMatchObject({
      ok: true,
      keysUpdated: 10 * MAX_REPEATED_CALLS,
      complete: false,
    });
    expect(run.summary).toBe(
      `suspend-user u1: ${10 * MAX_REPEATED_CALLS} keys updated in ${MAX_REPEATED_CALLS} calls (not complete: repeat the same command to resume)`,
    );
  });

  it('ends with the refusal of a later call, noting what the calls before it did', async () => {
    const refusal: InvokeResult = {
      payload: { ok: false, error: { code: 'user_status_changed', message: 'reactivated meanwhile' } },
    };
    const admin = keysAdmin(stamped(500, false), refusal);
    const term = terminal();

    const run = await runAction(
      { action: 'suspend-user', event: { action: 'suspend-user', userId: 'u1' } },
      { ...term, invoke: admin.invoke },
    );

    expect(run).toEqual({ result: refusal, calls: 2, summary: null });
    expect(term.notes).toEqual(['suspend-user u1: 500 keys updated in 1 call before this failure.']);
    // The progress line is cleared before the note.
    expect(term.chunks.at(-1)).toBe(REWRITE_LINE);
  });

  it('passes on an unreachable function after noting what was done', async () => {
    const admin = keysAdmin(stamped(500, false), new Error('Cannot reach the local Invoke API'));
    const term = terminal(false);

    const run = runAction(
      { action: 'reactivate-user', event: { action: 'reactivate-user', userId: 'u1' } },
      { ...term, invoke: admin.invoke },
    );

    await expect(run).rejects.toThrow('Cannot reach');
    expect(term.notes).toEqual(['reactivate-user u1: 500 keys updated in 1 call before this failure.']);
  });

  it('notes nothing when the first call fails', async () => {
    const admin = keysAdmin({ functionError: 'Unhandled', payload: { errorType: 'Error' } });
    const term = terminal(false);

    const run = await runAction(
      { action: 'suspend-user', event: { action: 'suspend-user', userId: 'u1' } },
      { ...term, invoke: admin.invoke },
    );

    expect(run).toMatchObject({ calls: 1, summary: null, result: { functionError: 'Unhandled' } });
    expect(term.notes).toEqual([]);
  });
});

describe('usage', () => {
  const event = { action: 'usage', userId: 'u1' };

  it('reads every page, 1000 keys a call, into one answer', async () => {
    const admin = keysAdmin(
      ok({ user: USER, usage: keys(0, 1000), nextToken: 't1' }),
      ok({ user: USER, usage: keys(1000, 1000), nextToken: 't2' }),
      ok({ user: USER, usage: keys(2000, 12), nextToken: null }),
    );
    const term = terminal();

    const run = await runAction({ action: 'usage', event }, { ...term, invoke: admin.invoke });

    expect(admin.events).toEqual([
      { ...event, limit: 1000 },
      { ...event, limit: 1000, nextToken: 't1' },
      { ...event, limit: 1000, nextToken: 't2' },
    ]);
    expect(run.result.payload).toEqual({ ok: true, user: USER, usage: keys(0, 2012), nextToken: null });
    expect(run.summary).toBe('usage u1: 2012 keys');
    expect(term.chunks).toEqual([
      `${REWRITE_LINE}usage u1: 1000 keys read…`,
      `${REWRITE_LINE}usage u1: 2000 keys read…`,
    ]);
  });

  it.each([
    ['--key', { keyId: 'key_1' }, 'usage u1: 1 key'],
    ['--limit', { limit: 1 }, 'usage u1: 1 key (more pages follow)'],
    ['--next-token', { nextToken: 't1' }, 'usage u1: 1 key (more pages follow)'],
  ])('makes the one call %s asks for', async (_flag, fields, summary) => {
    const answer = ok({ user: USER, usage: keys(1, 1), nextToken: 'keyId' in fields ? null : 't2' });
    const admin = keysAdmin(answer);

    const run = await runAction(
      { action: 'usage', event: { ...event, ...fields } },
      {
        ...terminal(false),
        invoke: admin.invoke,
      },
    );

    expect(admin.events).toEqual([{ ...event, ...fields }]);
    expect(run).toEqual({ result: answer, calls: 1, summary });
  });

  it('ends with a later page refused, noting what was read', async () => {
    const refusal: InvokeResult = {
      payload: { ok: false, error: { code: 'invalid_next_token', message: 'x' } },
    };
    const admin = keysAdmin(ok({ user: USER, usage: keys(0, 1000), nextToken: 't1' }), refusal);
    const term = terminal(false);

    const run = await runAction({ action: 'usage', event }, { ...term, invoke: admin.invoke });

    expect(run).toEqual({ result: refusal, calls: 2, summary: null });
    expect(term.notes).toEqual(['usage u1: 1000 keys read in 1 call before this failure.']);
  });
});

describe('every other action', () => {
  it('is one call, shown only if it runs long, without a summary', async () => {
    const answer = ok({ user: USER });
    const admin = keysAdmin(answer);
    const term = terminal();

    const run = await runAction(
      { action: 'create-user', event: { action: 'create-user', userId: 'u1' } },
      { ...term, invoke: admin.invoke },
    );

    expect(run).toEqual({ result: answer, calls: 1, summary: null });
    expect(term.chunks).toEqual([]);
  });

  it('shows a rotation of all keys from the start, and sums it up', async () => {
    const admin = keysAdmin(
      ok({ key: { keyId: 'key_new' }, retired: [{ keyId: 'key_a' }, { keyId: 'key_b' }] }),
    );
    const term = terminal();

    const run = await runAction(
      { action: 'rotate', event: { action: 'rotate', userId: 'u1' } },
      {
        ...term,
        invoke: admin.invoke,
      },
    );

    expect(term.chunks).toEqual([`${REWRITE_LINE}rotate u1: waiting for keys-admin…`]);
    expect(run.summary).toBe('rotate u1: key key_new issued, 2 retired');
  });

  it('does not show the rotation of one key unless it runs long', async () => {
    const admin = keysAdmin(ok({ key: { keyId: 'key_new' }, retired: [{ keyId: 'key_a' }] }));
    const term = terminal();

    await runAction(
      { action: 'rotate', event: { action: 'rotate', userId: 'u1', keyId: 'key_a' } },
      {
        ...term,
        invoke: admin.invoke,
      },
    );

    expect(term.chunks).toEqual([]);
  });
});
