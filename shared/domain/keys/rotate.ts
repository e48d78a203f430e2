/**
 * Rotation (SPEC §6): issue the new key first, then retire the old ones, so a failure at
 * any step leaves the user at least one working key and a repeat completes the job
 * (docs/decisions/0006-key-store-at-scale.md walks through every failure point).
 *
 * - One named key: claim it (a conditional write naming this rotation and the id of the key
 *   it will issue) → issue → retire under the claim. Concurrent rotations of that key race
 *   for the claim; the losers issue nothing. A claim outlives no invocation: after
 *   ROTATION_CLAIM_MS a repeat may take it over, and first revokes the key the failed
 *   rotation issued but never delivered.
 * - All keys: issue (inheriting from the newest active key) → retire every active key, in
 *   parallel, each at most once. If some cannot be retired, the new key (never delivered) is
 *   revoked again and the failure thrown: the unretired old keys still work.
 */
import { randomUUID } from 'node:crypto';
import { mapConcurrently } from '../concurrency.js';
import type { Clock, LogSink } from '../ports.js';
import type { DescribeKeys } from './budget-views.js';
import { type IssueInput, type IssueKey, limitsAndScopesOf, newKeyId } from './issue.js';
import type { KeyLookup } from './lookup.js';
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import { type ApiKeyItem, DEFAULT_PROJECT_ID, type UserItem } from './model.js';
import { KeyStateError, type KeyStore, type UserStore } from './ports.js';
import { keyNotFound, type Result, refuse, USER_REFUSALS } from './results.js';

/**
 * How long a named rotation's claim holds. Longer than any keys-admin invocation can run
 * (its timeout is 30 s; tests/infra pins the relation), so a live rotation never loses it.
 */
export const ROTATION_CLAIM_MS = 120_000;

export interface RotateInput {
  userId: string;
  keyId?: string;
  graceSeconds?: number;
  /** Overrides the inherited name. */
  name?: string;
}

export type RotateResult = Result<{ apiKey: string; key: KeyMetadata; retired: KeyMetadata[] }>;

export interface RotationOptions {
  keys: Pick<
    KeyStore,
    'claimForRotation' | 'releaseRotation' | 'retire' | 'revoke' | 'findByHash' | 'findByHashes' | 'findRef'
  >;
  users: Pick<UserStore, 'find'>;
  lookup: KeyLookup;
  issueKey: IssueKey;
  /** The answer's metadata, with the budget the new key shares with the key it replaces. */
  describe: DescribeKeys;
  logger: LogSink;
  clock: Clock;
  /** Retirements in flight at once when rotating all keys. */
  concurrency: number;
}

/**
 * A rotation could not finish: some old keys could not be retired, or the key a failed
 * rotation issued could not be revoked yet. The old keys still work; a repeat completes it.
 */
export class RotationIncompleteError extends Error {
  override readonly name = 'RotationIncompleteError';
}

/** Active, unexpired and not yet retired by a rotation. */
export function isRetirable(item: ApiKeyItem, now: Date): boolean {
  return (
    item.status === 'active' && !item.rotated_at && (!item.expires_at || item.expires_at > now.toISOString())
  );
}

const claimHeld = (item: ApiKeyItem, now: Date): boolean =>
  item.rotation_id !== undefined && (item.rotation_until ?? '') > now.toISOString();

/**
 * What a new key takes from the key it replaces (SPEC §6): name, project binding, limits and
 * scopes — not the counters: the new key's windows and quota start fresh (docs/decisions/0007)
 * — and its budget, by reference: both keys draw on one budget item, so a rotation neither
 * resets nor doubles it (SPEC §5b).
 */
export function inheritedFrom(item: ApiKeyItem): Omit<IssueInput, 'userId' | 'keyId'> {
  return {
    projectId: item.project_id,
    projectBound: item.project_bound === true,
    ...(item.name ? { name: item.name } : {}),
    ...limitsAndScopesOf(item),
  };
}

/** A new key for a user with nothing to inherit from: as `create` without options would make it. */
function freshFor(user: UserItem): Omit<IssueInput, 'userId' | 'keyId'> {
  return { projectId: user.default_project_id ?? DEFAULT_PROJECT_ID, projectBound: false };
}

/** Tries of a read that decides what a write of unknown outcome did. */
const READ_AGAIN_ATTEMPTS = 3;

/** A read after a failed write; undefined when it keeps failing. */
async function readAgain<T>(read: () => Promise<T>): Promise<{ value: T } | undefined> {
  for (let attempt = 1; attempt <= READ_AGAIN_ATTEMPTS; attempt += 1) {
    try {
      return { value: await read() };
    } catch {
      if (attempt < READ_AGAIN_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }
  return undefined;
}

export function createRotation(options: RotationOptions) {
  const { keys, users, lookup, issueKey, describe, logger, clock, concurrency } = options;

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

  /** A failed named rotation: its key must not work; then (only then) its claim is given up. */
  async function abandonClaim(item: ApiKeyItem, rotationId: string, keyId: string): Promise<void> {
    if (await revokeUndelivered(item.user_id, keyId)) await releaseQuietly(item, rotationId);
  }

  async function releaseQuietly(item: ApiKeyItem, rotationId: string): Promise<void> {
    await keys.releaseRotation(item.key_hash, rotationId).catch((error: unknown) => {
      logger.warn('rotation claim not released; it lapses on its own', {
        key_id: item.key_id,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
    });
  }

  /** The retired key's expiry: the grace period's end, unless it already expires earlier. */
  function expiryOf(item: ApiKeyItem, graceEnd: Date | undefined): Date | undefined {
    if (!graceEnd) return undefined;
    return item.expires_at && item.expires_at < graceEnd.toISOString() ? new Date(item.expires_at) : graceEnd;
  }

  async function rotateOne(
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
  }

  async function rotateAll(
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

    type Outcome = { retired: ApiKeyItem } | { skipped: true } | { failed: ApiKeyItem; error: unknown };
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

  return async function rotate(input: RotateInput): Promise<RotateResult> {
    const user = await users.find(input.userId);
    if (!user) return USER_REFUSALS.missing();
    if (user.status !== 'active') return USER_REFUSALS.suspended();
    const graceSeconds = input.graceSeconds ?? 0;
    const graceEnd = graceSeconds > 0 ? new Date(clock().getTime() + graceSeconds * 1000) : undefined;
    return input.keyId
      ? rotateOne(user, { ...input, keyId: input.keyId }, graceEnd)
      : rotateAll(user, input, graceEnd);
  };
}
