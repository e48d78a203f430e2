/**
 * Rotation of one named key (SPEC §6): claim it (a conditional write naming this rotation and
 * the id of the key it will issue) → issue → retire under the claim. Concurrent rotations of
 * that key race for the claim; the losers issue nothing. A claim outlives no invocation: after
 * ROTATION_CLAIM_MS a repeat may take it over, and first revokes the key the failed rotation
 * issued but never delivered.
 */
import { randomUUID } from 'node:crypto';
import { type IssueKey, newKeyId } from './issue.js';
import type { ApiKeyItem, UserItem } from './model.js';
import { KeyStateError } from './ports.js';
import { keyNotFound, refuse } from './results.js';
import { type RotationRecovery, readAgain } from './rotation-recovery.js';
import {
  claimHeld,
  expiryOf,
  inheritedFrom,
  isRetirable,
  ROTATION_CLAIM_MS,
  type RotateInput,
  type RotateResult,
  RotationIncompleteError,
  type RotationOptions,
} from './rotation-rules.js';

export function createNamedRotation(
  options: Pick<RotationOptions, 'keys' | 'lookup' | 'issueKey' | 'logger' | 'clock'>,
  recovery: RotationRecovery,
) {
  const { keys, lookup, issueKey, logger, clock } = options;
  const { revokeUndelivered, releaseQuietly, abandonClaim, delivered } = recovery;

  return async function rotateNamed(
    user: UserItem,
    input: RotateInput & { keyId: string },
    graceEnd: Date | undefined,
  ): Promise<RotateResult> {
    const now = clock();
    const item = await lookup.findKey(user.user_id, input.keyId);
    if (!item) return keyNotFound(input.userId, input.keyId);
    if (!isRetirable(item, now))
      return refuse('key_not_active', `Key "${input.keyId}" is not active; nothing to rotate.`);

    // A lapsed claim names the key its rotation issued and never delivered. It is revoked before
    // the claim (the one record of that key) is taken over; if it cannot be, nothing changes.
    if (item.rotation_key_id && !claimHeld(item, now)) {
      if (!(await revokeUndelivered(user.user_id, item.rotation_key_id))) {
        throw new RotationIncompleteError(
          `The key a failed rotation of "${input.keyId}" issued could not be revoked yet; repeat the rotation`,
        );
      }
    }

    const rotationId = randomUUID();
    const keyId = newKeyId();
    let claimed: ApiKeyItem;
    try {
      claimed = await keys.claimForRotation(
        item.key_hash,
        { rotationId, until: new Date(now.getTime() + ROTATION_CLAIM_MS), newKeyId: keyId },
        now,
      );
    } catch (error) {
      if (!(error instanceof KeyStateError)) {
        // The claim may have committed before the failure reached us: give it up.
        await releaseQuietly(item, rotationId);
        throw error;
      }
      return refuse(
        'key_not_active',
        `Key "${input.keyId}" was retired or is being rotated by another call; nothing to rotate.`,
      );
    }
    // Another lapsed claim, taken over since the read (a race): its key too.
    if (claimed.rotation_key_id && claimed.rotation_key_id !== item.rotation_key_id) {
      await revokeUndelivered(user.user_id, claimed.rotation_key_id);
    }

    let issued: Awaited<ReturnType<IssueKey>>;
    try {
      issued = await issueKey({
        ...inheritedFrom(claimed),
        ...(input.name ? { name: input.name } : {}),
        userId: user.user_id,
        keyId,
      });
    } catch (error) {
      // The create may have committed before the failure reached us.
      await abandonClaim(item, rotationId, keyId);
      throw error;
    }
    if (!issued.ok) {
      await releaseQuietly(item, rotationId);
      return issued;
    }

    let retired: ApiKeyItem[];
    try {
      const retiredItem = await keys.retire(item.key_hash, now, {
        ...(graceEnd ? { expiresAt: expiryOf(claimed, graceEnd) as Date } : {}),
        replacedBy: keyId,
        rotationId,
      });
      retired = [retiredItem];
    } catch (error) {
      const reread = await readAgain(() => keys.findByHash(item.key_hash));
      const current = reread?.value;
      if (!reread) {
        // Whether the old key was retired cannot be told. Delivering the new key is the one
        // safe answer: if the retire committed, the new key is the only working one.
        logger.error('rotation delivered; the old key’s retirement is unconfirmed', {
          user_id: user.user_id,
          key_id: keyId,
          old_key_id: item.key_id,
          error_name: error instanceof Error ? error.name : 'unknown',
        });
        // If it did not commit, the claim would name a delivered key: give it up, so a repeat
        // rotates the old key again instead of revoking this one.
        await releaseQuietly(item, rotationId);
        retired = [];
      } else if (current?.replaced_by === keyId) {
        // It committed; only the answer was lost.
        retired = [current];
      } else if (error instanceof KeyStateError) {
        // The old key expired on its own meanwhile: nothing left to retire; deliver the new key.
        await releaseQuietly(item, rotationId);
        retired = [];
      } else {
        await abandonClaim(item, rotationId, keyId);
        throw error;
      }
    }
    return delivered(input, issued, retired, graceEnd, now);
  };
}
