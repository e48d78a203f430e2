/** Reads the API key from `Authorization: Bearer <key>` or `X-API-Key` (SPEC §3), case-insensitively. */
import type { AuthRefusalReason } from '../../shared/errors.js';

export type ExtractedKey =
  | { ok: true; key: string }
  | { ok: false; reason: Extract<AuthRefusalReason, 'missing' | 'conflicting' | 'malformed'> };

type HeaderMap = Record<string, string | undefined> | null | undefined;
type MultiHeaderMap = Record<string, string[] | undefined> | null | undefined;

/** Every value the client sent under `name`, in either map, whatever its spelling. */
function headerValues(headers: HeaderMap, multi: MultiHeaderMap, name: string): string[] {
  const values = new Set<string>();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name && typeof value === 'string') values.add(value);
  }
  for (const [key, list] of Object.entries(multi ?? {})) {
    if (key.toLowerCase() === name && Array.isArray(list)) {
      for (const value of list) if (typeof value === 'string') values.add(value);
    }
  }
  return [...values];
}

const BEARER = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i;

export function extractApiKey(headers: HeaderMap, multiValueHeaders?: MultiHeaderMap): ExtractedKey {
  const authorization = headerValues(headers, multiValueHeaders, 'authorization');
  const apiKeyHeader = headerValues(headers, multiValueHeaders, 'x-api-key').map((value) => value.trim());

  const candidates = new Set<string>();
  for (const value of authorization) {
    const match = BEARER.exec(value);
    // Another scheme (Basic, Digest, a bare key) is not ours: refuse rather than guess.
    if (!match?.[1]) return { ok: false, reason: 'malformed' };
    candidates.add(match[1]);
  }
  for (const value of apiKeyHeader) {
    if (value === '') return { ok: false, reason: 'malformed' };
    candidates.add(value);
  }
  if (candidates.size === 0) return { ok: false, reason: 'missing' };
  if (candidates.size > 1) return { ok: false, reason: 'conflicting' };
  const [key] = candidates;
  return key === undefined ? { ok: false, reason: 'missing' } : { ok: true, key };
}
