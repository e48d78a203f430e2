/**
 * Rotation of all a user's keys (SPEC §6): issue (inheriting from the newest active key) →
 * retire every active key, in parallel, each at most once. If some cannot be retired, the new
 * key (never delivered) is revoked again and the failure thrown: the unretired old keys still work.
 */
import { mapConcurrently } from '../concurrency.js';
import { type IssueKey, newKeyId } from './issue.js';
import type { ApiKeyItem, UserItem } from './model.js';
import { KeyStateError } from './ports.js';
import { type RotationRecovery, readAgain } from './rotation-recovery.js';
import {
  claimHeld,
  expiryOf,
  freshFor,
  inheritedFrom,
  isRetirable,
  type RotateInput,
  type RotateResult,
  RotationIncompleteError,
  type RotationOptions,
} from './rotation-rules.js';

type Outcome = { retired: ApiKeyItem } | { skipped: true } | { failed: ApiKeyItem; error: unknown };

export function createRotateAll(
  options: Pick<RotationOptions, 'keys' | 'lookup' | 'issueKey' | 'logger' | 'clock' | 'concurrency'>,
  recovery: RotationRecovery,
) {
  const { keys, lookup, issueKey, logger, clock, concurrency } = options;
  const { revokeUndelivered, delivered } = recovery;

  return async function rotateAll(
    user: UserItem,
    input: RotateInput,
    graceEnd: Date | undefined,
  ): Promise<RotateResult> {
    const now = clock();
    // Keys a named rotation holds are left to it.
    const candidates = (await lookup.keysOf(user.user_id)).filter(
      (item) => isRetirable(item, now) && !claimHeld(item, now),
    );
    const newest = candidates.reduce<ApiKeyItem | undefined>(
      (latest, item) => (!latest || item.created_at > latest.created_at ? item : latest),
      undefined,
    );
    const keyId = newKeyId();
    let issued: Awaited<ReturnType<IssueKey>>;
    try {
      issued = await issueKey({
        ...(newest ? inheritedFrom(newest) : freshFor(user)),
        ...(input.name ? { name: input.name } : {}),
        userId: user.user_id,
        keyId,
      });
    } catch (error) {
      await revokeUndelivered(user.user_id, keyId);
      throw error;
    }
    if (!issued.ok) return issued;

    const outcomes = await mapConcurrently(candidates, concurrency, async (item): Promise<Outcome> => {
      try {
        return {
          retired: await keys.retire(item.key_hash, now, {
            ...(graceEnd ? { expiresAt: expiryOf(item, graceEnd) as Date } : {}),
            replacedBy: keyId,
          }),
        };
      } catch (error) {
        // Retired or claimed by another rotation meanwhile: not ours to retire.
        if (error instanceof KeyStateError) return { skipped: true };
        return { failed: item, error };
      }
    });
    const retired = outcomes.flatMap((outcome) => ('retired' in outcome ? [outcome.retired] : []));
    const failed = outcomes.flatMap((outcome) => ('failed' in outcome ? [outcome] : []));
    if (failed.length > 0) {
      // A timed-out write may have committed: read them again before judging.
      const reread = await readAgain(() =>
        keys.findByHashes(failed.map(({ failed: item }) => item.key_hash)),
      );
      if (!reread) {
        // Their state cannot be told: the new key is delivered (it works, and may be the only
        // key that does); a repeat retires whichever old keys are still active.
        logger.error('rotation delivered; some old keys’ retirement is unconfirmed', {
          user_id: user.user_id,
          key_id: keyId,
          unconfirmed_key_ids: failed.map(({ failed: item }) => item.key_id),
        });
        return delivered(input, issued, retired, graceEnd, now);
      }
      const current = reread.value;
      retired.push(...current.filter((item) => item.replaced_by === keyId));
      const stillActive = current.filter((item) => item.replaced_by !== keyId && isRetirable(item, now));
      if (stillActive.length > 0) {
        await revokeUndelivered(user.user_id, keyId);
        logger.error('rotation incomplete: old keys still active, new key revoked', {
          user_id: user.user_id,
          key_id: keyId,
          still_active_key_ids: stillActive.map((item) => item.key_id),
          error_name: failed[0]?.error instanceof Error ? failed[0].error.name : 'unknown',
        });
        throw new RotationIncompleteError(
          `${stillActive.length} old key(s) could not be retired and still work; repeat the rotation`,
          { cause: failed[0]?.error },
        );
      }
    }
    return delivered(input, issued, retired, graceEnd, now);
  };
}
