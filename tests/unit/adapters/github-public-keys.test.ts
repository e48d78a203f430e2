import { describe, expect, it } from 'vitest';
import {
  type FetchLike,
  fromEnvironment,
  fromGitHub,
  GITHUB_PUBLIC_KEYS_URL,
} from '../../../shared/adapters/github/public-keys.js';
import type { SecretScanningKeySet } from '../../../shared/domain/leaks/model.js';
import { verifySignatureWith } from '../../../shared/domain/leaks/signature.js';
import { keySet, signedHeaders, signingKey } from '../../support/github-signing.js';
import { recordingLogger } from '../../support/logs.js';

const first = signingKey();
const second = signingKey();

type Answer = SecretScanningKeySet | { status: number; text: string } | Error | 'hang' | 'hang-body';

/** A fake GitHub: answers the current `answer` and records every call. */
function fakeGitHub(initial: Answer) {
  const calls: { url: string; signal: AbortSignal; headers: Record<string, string> }[] = [];
  const state = { answer: initial };
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, ...init });
    const answer = state.answer;
    if (answer instanceof Error) throw answer;
    if (answer === 'hang') return new Promise(() => {});
    if (answer === 'hang-body') return { ok: true, status: 200, text: () => new Promise<string>(() => {}) };
    if ('status' in answer) {
      return { ok: answer.status < 300, status: answer.status, text: async () => answer.text };
    }
    return { ok: true, status: 200, text: async () => JSON.stringify(answer) };
  };
  return { fetch, calls, state };
}

function clock(start = 1_000_000) {
  const time = { now: start };
  return { now: () => time.now, advance: (ms: number) => (time.now += ms) };
}

describe('fromEnvironment', () => {
  it('finds the keys of the document, and nothing else', async () => {
    const source = fromEnvironment(JSON.stringify(keySet(first, second)));
    expect(await source.find(first.identifier)).toEqual(first.entry);
    expect(await source.find(second.identifier)).toEqual(second.entry);
    expect(await source.find('unknown')).toBeUndefined();
  });

  it('accepts fields GitHub may add', async () => {
    const document = { public_keys: [{ ...first.entry, algorithm: 'ecdsa' }], etag: 'x' };
    expect(await fromEnvironment(JSON.stringify(document)).find(first.identifier)).toEqual(first.entry);
  });

  it('fails at start, naming the variable without echoing it, when not set or not the shape', () => {
    expect(() => fromEnvironment(undefined)).toThrow(/SECRET_SCANNING_PUBLIC_KEYS is not set/);
    expect(() => fromEnvironment('  ')).toThrow(/SECRET_SCANNING_PUBLIC_KEYS is not set/);
    expect(() => fromEnvironment('{secret-ish')).toThrow(/SECRET_SCANNING_PUBLIC_KEYS is not JSON$/);
    expect(() => fromEnvironment('[]')).toThrow(/SECRET_SCANNING_PUBLIC_KEYS is not \{public_keys/);
    expect(() =>
      fromEnvironment(JSON.stringify({ public_keys: [{ key_identifier: 'a', key: 'b' }] })),
    ).toThrow(/public_keys\.0\.is_current/);
  });
});

describe('fromGitHub', () => {
  it('loads GitHub document once and answers from the cache', async () => {
    const github = fakeGitHub(keySet(first));
    const source = fromGitHub({ fetch: github.fetch });
    expect(await source.find(first.identifier)).toEqual(first.entry);
    expect(await source.find(first.identifier)).toEqual(first.entry);
    expect(github.calls).toHaveLength(1);
    const [call] = github.calls;
    expect(call?.url).toBe(GITHUB_PUBLIC_KEYS_URL);
    expect(call?.signal).toBeInstanceOf(AbortSignal);
    expect(call?.headers).toMatchObject({ Accept: 'application/vnd.github+json' });
    expect(call?.headers['User-Agent']).toBeTruthy();
  });

  it('loads again once the document is older than ttlMs', async () => {
    const github = fakeGitHub(keySet(first));
    const time = clock();
    const source = fromGitHub({
      fetch: github.fetch,
      now: time.now,
      ttlMs: 60_000,
      minRefreshIntervalMs: 1000,
    });
    await source.find(first.identifier);
    time.advance(59_999);
    await source.find(first.identifier);
    expect(github.calls).toHaveLength(1);
    time.advance(1);
    await source.find(first.identifier);
    expect(github.calls).toHaveLength(2);
  });

  it('reloads for an unknown identifier (a rotation), at most once per minRefreshIntervalMs', async () => {
    const github = fakeGitHub(keySet(first));
    const time = clock();
    const source = fromGitHub({
      fetch: github.fetch,
      now: time.now,
      ttlMs: 3_600_000,
      minRefreshIntervalMs: 60_000,
    });
    // The first load itself counts: an identifier missing from it does not load again at once.
    expect(await source.find(second.identifier)).toBeUndefined();
    expect(github.calls).toHaveLength(1);

    github.state.answer = keySet(first, second);
    time.advance(30_000);
    for (let index = 0; index < 100; index += 1) {
      expect(await source.find(`forged-${index}`)).toBeUndefined();
    }
    expect(await source.find(second.identifier)).toBeUndefined();
    expect(github.calls).toHaveLength(1);

    time.advance(30_000);
    expect(await source.find(second.identifier)).toEqual(second.entry);
    expect(github.calls).toHaveLength(2);
    // Known identifiers never load.
    time.advance(120_000);
    expect(await source.find(first.identifier)).toEqual(first.entry);
    expect(github.calls).toHaveLength(2);
  });

  it('shares one load between concurrent finds', async () => {
    const github = fakeGitHub(keySet(first));
    const source = fromGitHub({ fetch: github.fetch });
    const found = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        source.find(index % 2 === 0 ? first.identifier : `forged-${index}`),
      ),
    );
    expect(found.filter(Boolean)).toHaveLength(25);
    expect(github.calls).toHaveLength(1);
  });

  it('keeps the cached keys when a load fails, and reports identifiers it lacks as unknown', async () => {
    const failures: Answer[] = [
      new TypeError('fetch failed'),
      { status: 500, text: 'oops' },
      { status: 403, text: '{"message":"API rate limit exceeded"}' },
      { status: 200, text: '<html>' },
      { status: 200, text: '{"public_keys": "nope"}' },
    ];
    for (const failure of failures) {
      const github = fakeGitHub(keySet(first));
      const time = clock();
      const log = recordingLogger();
      const source = fromGitHub({
        fetch: github.fetch,
        now: time.now,
        ttlMs: 60_000,
        minRefreshIntervalMs: 10_000,
        logger: log.logger,
      });
      expect(await source.find(first.identifier)).toEqual(first.entry);
      github.state.answer = failure;
      time.advance(60_000);
      expect(await source.find(first.identifier)).toEqual(first.entry);
      expect(await source.find(second.identifier)).toBeUndefined();
      expect(github.calls).toHaveLength(2);
      expect(log.records).toEqual([
        expect.objectContaining({ level: 'warn', message: 'secret-scanning public keys not loaded' }),
      ]);
      // Still stale: the next load waits for the interval, then succeeds.
      github.state.answer = keySet(first, second);
      time.advance(10_000);
      expect(await source.find(second.identifier)).toEqual(second.entry);
      expect(github.calls).toHaveLength(3);
    }
  });

  it('retries a failed first load only after the interval', async () => {
    const github = fakeGitHub(new TypeError('fetch failed'));
    const time = clock();
    const source = fromGitHub({ fetch: github.fetch, now: time.now, minRefreshIntervalMs: 5000 });
    expect(await source.find(first.identifier)).toBeUndefined();
    expect(await source.find(first.identifier)).toBeUndefined();
    expect(github.calls).toHaveLength(1);
    github.state.answer = keySet(first);
    time.advance(5000);
    expect(await source.find(first.identifier)).toEqual(first.entry);
    expect(github.calls).toHaveLength(2);
  });

  it('gives up on a load after timeoutMs, even when fetch or its body ignores the abort', async () => {
    for (const answer of ['hang', 'hang-body'] as const) {
      const github = fakeGitHub(answer);
      const log = recordingLogger();
      const source = fromGitHub({ fetch: github.fetch, timeoutMs: 50, logger: log.logger });
      const started = performance.now();
      expect(await source.find(first.identifier)).toBeUndefined();
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(40);
      expect(elapsed).toBeLessThan(2000);
      expect(github.calls[0]?.signal.aborted).toBe(true);
      expect(log.records[0]?.attributes.error_name).toMatch(/TimeoutError/);
    }
  });

  it('feeds the signature check: a report signed with a rotated-in key verifies after the reload', async () => {
    const github = fakeGitHub(keySet(first));
    const time = clock();
    const source = fromGitHub({ fetch: github.fetch, now: time.now, minRefreshIntervalMs: 1000 });
    const body = '[]';
    expect(await verifySignatureWith({ headers: signedHeaders(body, first), body }, source)).toEqual({
      ok: true,
    });
    github.state.answer = keySet(first, second);
    time.advance(1000);
    expect(await verifySignatureWith({ headers: signedHeaders(body, second), body }, source)).toEqual({
      ok: true,
    });
    expect(github.calls).toHaveLength(2);
  });
});
