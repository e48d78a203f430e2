/**
 * Where GitHub's secret-scanning public keys come from (SPEC §3c), one source per container:
 * - `fromEnvironment(json)`: local runs and tests, `SECRET_SCANNING_PUBLIC_KEYS` in the shape
 *   GitHub serves; a value that is not that shape fails at start, not on every report.
 * - `fromGitHub(options)`: deployed stages. Fetches GitHub's `meta/public_keys/secret_scanning`
 *   document on first use and caches it for `ttlMs`. A report naming an identifier the cache
 *   does not hold (GitHub rotated its key) reloads the document — but GitHub is asked at most
 *   once per `minRefreshIntervalMs` whatever arrives, so forged identifiers cannot make us
 *   hammer GitHub (or spend its unauthenticated rate limit). Concurrent finds share one load.
 *   Every load is bounded by `timeoutMs`; a failed load keeps the keys already cached (stale
 *   keys verify; unknown identifiers stay unknown → 401) and is retried after the interval.
 */
import { parseSecretScanningKeySet, type SecretScanningPublicKey } from '../../domain/leaks/model.js';
import type { SecretScanningKeySource } from '../../domain/leaks/ports.js';
import type { LogSink } from '../../domain/ports.js';

export const GITHUB_PUBLIC_KEYS_URL = 'https://api.github.com/meta/public_keys/secret_scanning';
export const PUBLIC_KEYS_ENV = 'SECRET_SCANNING_PUBLIC_KEYS';

/** The part of `fetch` this source uses, so tests can inject their own. */
export type FetchLike = (
  url: string,
  init: { signal: AbortSignal; headers: Record<string, string> },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface GitHubKeySourceOptions {
  fetch?: FetchLike;
  url?: string;
  /** How long a loaded document is used before it is loaded again (default 1 hour). */
  ttlMs?: number;
  /** The least time between two loads, whatever asks for them (default 60 s). */
  minRefreshIntervalMs?: number;
  /** The longest one load (answer and body) may take (default 2 s). */
  timeoutMs?: number;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  logger?: Pick<LogSink, 'warn'>;
}

/** GitHub's document is a few hundred bytes per key; anything far larger is not it. */
const MAX_DOCUMENT_CHARS = 256 * 1024;

function byIdentifier(keys: readonly SecretScanningPublicKey[]): Map<string, SecretScanningPublicKey> {
  const map = new Map<string, SecretScanningPublicKey>();
  for (const key of keys) if (!map.has(key.key_identifier)) map.set(key.key_identifier, key);
  return map;
}

/** A fixed key set from `SECRET_SCANNING_PUBLIC_KEYS`; throws (naming the variable, not echoing it) when malformed. */
export function fromEnvironment(json: string | undefined): SecretScanningKeySource {
  if (json === undefined || json.trim() === '') {
    throw new Error(`${PUBLIC_KEYS_ENV} is not set: give GitHub's {"public_keys": [...]} document`);
  }
  const parsed = parseSecretScanningKeySet(json);
  if (!parsed.ok) throw new Error(`${PUBLIC_KEYS_ENV} is ${parsed.problem}`);
  const keys = byIdentifier(parsed.keys.public_keys);
  return { find: async (keyIdentifier) => keys.get(keyIdentifier) };
}

/** Resolves with the work, or rejects once `signal` aborts even if the work ignores it. */
function bounded<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {});
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {});
  return Promise.race([work, aborted]);
}

export function fromGitHub(options: GitHubKeySourceOptions = {}): SecretScanningKeySource {
  const fetchDocument: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  const url = options.url ?? GITHUB_PUBLIC_KEYS_URL;
  const ttlMs = options.ttlMs ?? 60 * 60 * 1000;
  const minRefreshIntervalMs = options.minRefreshIntervalMs ?? 60 * 1000;
  const timeoutMs = options.timeoutMs ?? 2000;
  const now = options.now ?? Date.now;

  let cache: Map<string, SecretScanningPublicKey> | undefined;
  let loadedAt = Number.NEGATIVE_INFINITY;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<void> | undefined;

  async function download(): Promise<Map<string, SecretScanningPublicKey>> {
    const signal = AbortSignal.timeout(timeoutMs);
    const work = (async () => {
      const response = await fetchDocument(url, {
        signal,
        headers: {
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': '2022-11-28',
          'User-Agent': 'keygate-secret-scanning',
        },
      });
      if (!response.ok) throw new Error(`GitHub answered ${response.status}`);
      const text = await response.text();
      if (text.length > MAX_DOCUMENT_CHARS) throw new Error('document too large');
      const parsed = parseSecretScanningKeySet(text);
      if (!parsed.ok) throw new Error(`document is ${parsed.problem}`);
      return byIdentifier(parsed.keys.public_keys);
    })();
    return bounded(work, signal);
  }

  /** One load at a time; a failure keeps what is cached. Never rejects. */
  function load(): Promise<void> {
    if (loading) return loading;
    lastAttemptAt = now();
    loading = (async () => {
      try {
        cache = await download();
        loadedAt = now();
      } catch (error) {
        options.logger?.warn('secret-scanning public keys not loaded', {
          url,
          error_name: error instanceof Error ? error.name : 'unknown',
          error_message: error instanceof Error ? error.message : String(error),
          cached_keys: cache?.size ?? 0,
        });
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  const mayLoad = () => now() - lastAttemptAt >= minRefreshIntervalMs;

  return {
    async find(keyIdentifier) {
      if (loading) await loading;
      const stale = cache === undefined || now() - loadedAt >= ttlMs;
      if (stale && mayLoad()) await load();
      const key = cache?.get(keyIdentifier);
      if (key || !mayLoad()) return key;
      await load();
      return cache?.get(keyIdentifier);
    },
  };
}
