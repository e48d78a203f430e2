/**
 * suspend-user / reactivate-user (SPEC §6). Verification stays one UpdateItem on the key
 * item, so the user's status is stamped onto each of its keys:
 * 1. the status changes first (one conditional write that bumps `status_version`): from
 *    then on no key can be created for a suspended user, because create's transaction
 *    checks the user;
 * 2. the user's keys, read page by page from UserKeys (strongly consistent), are stamped in
 *    parallel, each write fenced by the version so a superseded change never undoes a newer
 *    one; after each page the user records how far it got.
 * When time runs short or a write fails, the answer is `complete: false` and the user
 * keeps its new status; a repeat resumes after the last recorded page. A suspension in
 * progress therefore only ever refuses more than before, and a repeat finishes it.
 * A stamp that fails may have been applied (its answer late or lost, docs/decisions/0011):
 * the key is read again before judging, and a stamp found on it (and on every shard) is
 * counted here, since no later pass would see it as its own change.
 */
import { mapConcurrently } from '../concurrency.js';
import type { Clock, LogSink } from '../ports.js';
import { toUserView, type UserView } from './metadata.js';
import { type ApiKeyItem, keyStampingPending, statusVersionOf } from './model.js';
import { type KeyStore, StoreConflictError, UserNotActiveError, type UserStore } from './ports.js';
import { CONFLICT_REFUSAL, type Result, refuse, USER_REFUSALS } from './results.js';
import { readAgain } from './rotation-recovery.js';

/** Below this much time left, no new page is started (a page takes well under a second). */
export const STAMPING_STOP_MARGIN_MS = 5_000;

export interface UserStatusOptions {
  keys: Pick<KeyStore, 'listRefs' | 'stampUserStatus' | 'findByHash' | 'findShards'>;
  users: Pick<UserStore, 'changeStatus' | 'recordStamping'>;
  logger: LogSink;
  clock: Clock;
  /** Keys read and stamped per page (the resume point moves once per page). */
  pageSize: number;
  /** Stamp writes in flight at once. */
  concurrency: number;
}

export interface UserStatusInput {
  userId: string;
  suspended: boolean;
  /** The invocation's remaining time; without it the call runs until done. */
  timeLeftMs?: () => number;
}

export type UserStatusResult = Result<{ user: UserView; keysUpdated: number; complete: boolean }>;

export function createUserStatusChange(options: UserStatusOptions) {
  const { keys, users, logger, clock, pageSize, concurrency } = options;

  const carries = (item: ApiKeyItem | undefined, version: number) => item?.user_status_version === version;

  /** Whether a stamp that failed was applied after all: on the key and, if sharded, on every shard. */
  async function stampFound(keyHash: string, version: number): Promise<boolean> {
    const read = await readAgain(async () => {
      const item = await keys.findByHash(keyHash);
      if (!carries(item, version)) return false;
      const shards = item?.shards ?? 0;
      if (shards < 2) return true;
      const copies = await keys.findShards(keyHash, shards);
      return copies.length === shards && copies.every((copy) => (copy.user_status_version ?? 0) >= version);
    });
    return read?.value === true;
  }

  /** True when this pass changed the key. */
  async function stamp(keyHash: string, suspended: boolean, version: number): Promise<boolean> {
    try {
      return await keys.stampUserStatus(keyHash, suspended, version);
    } catch (error) {
      if (await stampFound(keyHash, version)) return true;
      throw error;
    }
  }

  return async function setUserStatus(input: UserStatusInput): Promise<UserStatusResult> {
    const { userId, suspended } = input;
    let change: Awaited<ReturnType<UserStore['changeStatus']>>;
    try {
      change = await users.changeStatus(userId, suspended ? 'suspended' : 'active', clock());
    } catch (error) {
      if (error instanceof UserNotActiveError) return USER_REFUSALS.missing();
      if (error instanceof StoreConflictError) return CONFLICT_REFUSAL();
      throw error;
    }
    const { user } = change;
    const view = toUserView(user);
    if (!keyStampingPending(user)) return { ok: true, user: view, keysUpdated: 0, complete: true };

    const version = statusVersionOf(user);
    const superseded = () =>
      refuse(
        'user_status_changed',
        `Another suspend-user or reactivate-user changed user "${userId}" meanwhile; repeat this action if it is still wanted.`,
      );
    let through = user.keys_stamped_through;
    let keysUpdated = 0;
    try {
      for (;;) {
        if (input.timeLeftMs && input.timeLeftMs() < STAMPING_STOP_MARGIN_MS) {
          logger.warn('user key stamping paused: time is short; a repeat resumes it', {
            user_id: userId,
            keys_updated: keysUpdated,
          });
          return { ok: true, user: view, keysUpdated, complete: false };
        }
        const page = await keys.listRefs(userId, pageSize, through);
        await mapConcurrently(page.refs, concurrency, async (ref) => {
          if (await stamp(ref.keyHash, suspended, version)) keysUpdated += 1;
        });
        if (!page.lastKeyId) break;
        through = page.lastKeyId;
        if (!(await users.recordStamping(userId, version, { through }))) return superseded();
      }
      if (!(await users.recordStamping(userId, version, 'done'))) return superseded();
    } catch (error) {
      if (error instanceof StoreConflictError) return CONFLICT_REFUSAL();
      // The status already holds; the keys stamped so far stay stamped. A repeat resumes.
      logger.error('user key stamping interrupted; a repeat resumes it', {
        user_id: userId,
        keys_updated: keysUpdated,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
      return { ok: true, user: view, keysUpdated, complete: false };
    }
    logger.info(suspended ? 'user suspended' : 'user reactivated', {
      user_id: userId,
      keys_updated: keysUpdated,
    });
    return { ok: true, user: view, keysUpdated, complete: true };
  };
}
