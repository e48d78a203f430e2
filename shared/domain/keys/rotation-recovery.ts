/**
 * What a rotation does after a write of unknown outcome (docs/decisions/0006): read again
 * before judging, make sure a key nobody received does not work, give up a claim only once
 * that is sure, and deliver the answer even when the budget read behind it fails.
 */
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import type { ApiKeyItem } from './model.js';
import { KeyStateError } from './ports.js';
import type { RotateInput, RotateResult, RotationOptions } from './rotation-rules.js';

/** Tries of a read that decides what a write of unknown outcome did. */
const READ_AGAIN_ATTEMPTS = 3;

/** A read after a failed write; undefined when it keeps failing. */
export async function readAgain<T>(read: () => Promise<T>): Promise<{ value: T } | undefined> {
  for (let attempt = 1; attempt <= READ_AGAIN_ATTEMPTS; attempt += 1) {
    try {
      return { value: await read() };
    } catch {
      if (attempt < READ_AGAIN_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }
  return undefined;
}

export type RotationRecovery = ReturnType<typeof createRotationRecovery>;

export function createRotationRecovery(
  options: Pick<RotationOptions, 'keys' | 'describe' | 'logger' | 'clock'>,
) {
  const { keys, describe, logger, clock } = options;

  /**
   * A key issued by a rotation that never answered: nobody holds it, so it must not work.
   * True when it is known not to work (never created, or revoked); false when that could not
   * be made sure of. A named rotation then keeps its claim, the one record of that key: the
   * rotation that takes the lapsed claim over revokes it first.
   */
  async function revokeUndelivered(userId: string, keyId: string): Promise<boolean> {
    try {
      const ref = await keys.findRef(userId, keyId);
      if (!ref) return true;
      await keys.revoke(ref.keyHash, clock(), 'rotation_failed');
      logger.warn('undelivered rotation key revoked', { user_id: userId, key_id: keyId });
      return true;
    } catch (error) {
      if (error instanceof KeyStateError) return true;
      logger.error('could not revoke an undelivered rotation key', {
        user_id: userId,
        key_id: keyId,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
      return false;
    }
  }

  async function releaseQuietly(item: ApiKeyItem, rotationId: string): Promise<void> {
    await keys.releaseRotation(item.key_hash, rotationId).catch((error: unknown) => {
      logger.warn('rotation claim not released; it lapses on its own', {
        key_id: item.key_id,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
    });
  }

  /** A failed named rotation: its key must not work; then (only then) its claim is given up. */
  async function abandonClaim(item: ApiKeyItem, rotationId: string, keyId: string): Promise<void> {
    if (await revokeUndelivered(item.user_id, keyId)) await releaseQuietly(item, rotationId);
  }

  async function delivered(
    input: RotateInput,
    issued: { apiKey: string; item: ApiKeyItem },
    retiredItems: ApiKeyItem[],
    graceEnd: Date | undefined,
    now: Date,
  ): Promise<RotateResult> {
    const items = [issued.item, ...retiredItems];
    // The new key is issued and the old ones retired: the answer must go out even if the budget
    // read fails (then without budget views), or nobody would ever hold the new key.
    const described = await readAgain(() => describe(items, now));
    if (!described) {
      logger.error('rotation delivered without budget views; the budget read failed', {
        user_id: input.userId,
        key_id: issued.item.key_id,
      });
    }
    const [key, ...retired] = (described?.value ?? items.map((item) => toKeyMetadata(item, now))) as [
      KeyMetadata,
      ...KeyMetadata[],
    ];
    // The retired ids are in keys-admin's audit lines (split when there are many).
    logger.info('api keys rotated', {
      user_id: input.userId,
      key_id: key.keyId,
      retired_count: retired.length,
      grace_seconds: input.graceSeconds ?? 0,
      ...(graceEnd ? { grace_ends_at: graceEnd.toISOString() } : {}),
    });
    return { ok: true, apiKey: issued.apiKey, key, retired };
  }

  return { revokeUndelivered, releaseQuietly, abandonClaim, delivered };
}
