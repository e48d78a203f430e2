/**
 * Rotation: retire the user's active keys (or only `keyId`) and issue one new key. Each
 * retirement is conditional and happens once, so concurrent rotations cannot both retire
 * a key; a rotation of one named key that loses that race issues nothing.
 */
import type { Clock, LogSink } from '../ports.js';
import type { IssueKey } from './issue.js';
import type { KeyLookup } from './lookup.js';
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import { type ApiKeyItem, DEFAULT_PROJECT_ID } from './model.js';
import { KeyStateError, type KeyStore, type UserStore } from './ports.js';
import { keyNotFound, type Result, refuse, USER_REFUSALS } from './results.js';

export interface RotateInput {
  userId: string;
  keyId?: string;
  graceSeconds?: number;
  name?: string;
}

export interface RotationOptions {
  keys: Pick<KeyStore, 'retire'>;
  users: Pick<UserStore, 'find'>;
  lookup: KeyLookup;
  issueKey: IssueKey;
  logger: LogSink;
  clock: Clock;
}

export function createRotation(options: RotationOptions) {
  const { keys, users, lookup, issueKey, logger, clock } = options;

  return async function rotate(
    input: RotateInput,
  ): Promise<Result<{ apiKey: string; key: KeyMetadata; retired: KeyMetadata[] }>> {
    const graceSeconds = input.graceSeconds ?? 0;
    const user = await users.find(input.userId);
    if (!user) return USER_REFUSALS.missing();
    if (user.status !== 'active') return USER_REFUSALS.suspended();

    const now = clock();
    const isActive = (item: ApiKeyItem) =>
      item.status === 'active' &&
      !item.rotated_at &&
      (!item.expires_at || item.expires_at > now.toISOString());
    let candidates: ApiKeyItem[];
    if (input.keyId) {
      const item = await lookup.findKey(user, input.keyId);
      if (!item) return keyNotFound(input.userId, input.keyId);
      if (!isActive(item))
        return refuse('key_not_active', `Key "${input.keyId}" is not active; nothing to rotate.`);
      candidates = [item];
    } else {
      candidates = (await lookup.keysOf(user)).filter(isActive);
    }

    const graceEnd = graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : undefined;
    const retired: KeyMetadata[] = [];
    for (const item of candidates) {
      // A key already expiring before the grace period ends keeps its earlier expiry.
      const expiresAt =
        graceEnd && item.expires_at && item.expires_at < graceEnd.toISOString()
          ? new Date(item.expires_at)
          : graceEnd;
      try {
        retired.push(toKeyMetadata(await keys.retire(item.key_hash, now, expiresAt), now));
      } catch (error) {
        if (!(error instanceof KeyStateError)) throw error;
        if (input.keyId)
          return refuse(
            'key_not_active',
            `Key "${input.keyId}" was retired concurrently; nothing to rotate.`,
          );
      }
    }

    const projectId =
      input.keyId && candidates[0]
        ? candidates[0].project_id
        : (user.default_project_id ?? DEFAULT_PROJECT_ID);
    const name = input.name ?? (input.keyId ? candidates[0]?.name : undefined);
    const issued = await issueKey({ userId: input.userId, projectId, ...(name ? { name } : {}) });
    if (!issued.ok) return issued;
    logger.info('api keys rotated', {
      user_id: input.userId,
      key_id: issued.key.keyId,
      retired_key_ids: retired.map((key) => key.keyId),
      grace_seconds: graceSeconds,
    });
    return { ok: true, apiKey: issued.apiKey, key: issued.key, retired };
  };
}
