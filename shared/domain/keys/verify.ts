/**
 * The hot path of every request: a key is verified and counted in one conditional write.
 * Format and checksum come first, so garbage costs no database call; a refusal's reason is
 * read from the item the refused write returned, never from a second read. Expected
 * outcomes are values; only infrastructure failures throw.
 */

import { type Clock, systemClock } from '../ports.js';
import { environmentOfKey, hashKey, type KeyEnvironment } from './format.js';
import type { ApiKeyItem } from './model.js';
import type { KeyVerificationStore } from './ports.js';

export type VerifyRefusalReason =
  | 'malformed'
  | 'other_environment'
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'suspended';

export type VerifyResult =
  | { ok: true; userId: string; keyId: string; projectId: string }
  | { ok: false; reason: VerifyRefusalReason };

/** Why the verify write refused a key, from the item as it was (absent: no such key). */
export function refusalReasonOf(
  current: ApiKeyItem | undefined,
): Exclude<VerifyRefusalReason, 'malformed' | 'other_environment'> {
  if (!current) return 'unknown';
  if (current.status !== 'active') return 'revoked';
  if (current.user_suspended) return 'suspended';
  return 'expired';
}

export interface KeyVerifierOptions {
  keys: KeyVerificationStore;
  /** The stage's environment: a key of the other one is refused before any database call. */
  environment: KeyEnvironment;
  clock?: Clock;
}

export function createKeyVerifier(options: KeyVerifierOptions) {
  const clock = options.clock ?? systemClock;
  return {
    async verify(candidate: unknown): Promise<VerifyResult> {
      const environment = environmentOfKey(candidate);
      if (environment === undefined) return { ok: false, reason: 'malformed' };
      if (environment !== options.environment) return { ok: false, reason: 'other_environment' };
      const written = await options.keys.verifyAndCount(hashKey(candidate as string), clock());
      if (!written.ok) return { ok: false, reason: refusalReasonOf(written.current) };
      return {
        ok: true,
        userId: written.item.user_id,
        keyId: written.item.key_id,
        projectId: written.item.project_id,
      };
    },
  };
}

export type KeyVerifier = ReturnType<typeof createKeyVerifier>;
