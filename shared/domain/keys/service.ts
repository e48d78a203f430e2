/**
 * API-key domain: generate, verify, list, revoke, rotate. Expected outcomes are values
 * (`{ok:false, …}`); only infrastructure failures throw. The plaintext key leaves this
 * module once, in the answer to create/rotate; logs carry key_id or a hash prefix only.
 */
import { randomBytes } from 'node:crypto';
import type { LogSink } from '../../adapters/observability.js';
import type { ApiKeyRepository } from '../../adapters/dynamodb/api-key-store.js';
import {
  KeyCollisionError,
  KeyStateError,
  UserExistsError,
  UserNotActiveError,
} from './ports.js';
import type { UserRepository } from '../../adapters/dynamodb/user-store.js';
import {
  CURRENT_HASH_VERSION,
  cryptoRandom,
  generateKey,
  hashKey,
  hashPrefix,
  isWellFormedKey,
  type RandomSource,
  toBase62,
} from './format.js';
import {
  type ApiKeyItem,
  type KeyMetadata,
  keyRefsOf,
  toKeyMetadata,
  toUserView,
  type UserItem,
  type UserView,
} from './model.js';

export type { LogSink };

export type RefusalCode =
  | 'user_not_found'
  | 'user_suspended'
  | 'user_exists'
  | 'key_not_found'
  | 'key_not_active'
  | 'invalid_expiry'
  | 'invalid_next_token'
  | 'key_generation_failed';

export interface Refusal {
  ok: false;
  error: { code: RefusalCode; message: string };
}

export type Result<T> = ({ ok: true } & T) | Refusal;

export type VerifyRefusalReason = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'suspended';
export type VerifyResult =
  | { ok: true; userId: string; keyId: string; projectId: string }
  | { ok: false; reason: VerifyRefusalReason };

export interface KeyServiceOptions {
  keys: ApiKeyRepository;
  users: UserRepository;
  logger: LogSink;
  clock?: () => Date;
  random?: RandomSource;
  /** Attempts at a fresh key when the hash already exists (bounded). */
  maxCreateAttempts?: number;
}

export const DEFAULT_PROJECT_ID = 'default';

function refuse(code: RefusalCode, message: string): Refusal {
  return { ok: false, error: { code, message } };
}

const USER_REFUSALS = {
  missing: () => refuse('user_not_found', 'No such user; create it first with create-user.'),
  suspended: () => refuse('user_suspended', 'The user is suspended; no keys can be issued for it.'),
} as const;

function newKeyId(): string {
  return `key_${toBase62(BigInt(`0x${randomBytes(16).toString('hex')}`), 22)}`;
}

function encodeToken(lastKey: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url');
}

/** The attributes of the user index's LastEvaluatedKey: table key + index keys, all strings. */
const TOKEN_ATTRIBUTES = ['created_at', 'key_hash', 'user_id'];

function decodeToken(token: string, userId: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      parsed !== null &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      (parsed as Record<string, unknown>).user_id === userId &&
      // Anything else would make the Query fail with a ValidationException (a throw, not a refusal).
      Object.keys(parsed).sort().join() === TOKEN_ATTRIBUTES.join() &&
      Object.values(parsed).every((value) => typeof value === 'string' && value.length > 0)
    ) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through: an unreadable token is a refusal, not a failure
  }
  return undefined;
}

export function createKeyService(options: KeyServiceOptions) {
  const { keys, users, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? cryptoRandom;
  const maxCreateAttempts = options.maxCreateAttempts ?? 3;

  async function issueKey(input: {
    userId: string;
    projectId: string;
    name?: string;
    expiresAt?: string;
  }): Promise<Result<{ apiKey: string; key: KeyMetadata; item: ApiKeyItem }>> {
    for (let attempt = 1; attempt <= maxCreateAttempts; attempt += 1) {
      const generated = generateKey(random);
      const now = clock();
      const item: ApiKeyItem = {
        key_hash: generated.hash,
        hash_version: CURRENT_HASH_VERSION,
        key_id: newKeyId(),
        user_id: input.userId,
        project_id: input.projectId,
        ...(input.name ? { name: input.name } : {}),
        status: 'active',
        start: generated.start,
        created_at: now.toISOString(),
        usage_count: 0,
        ...(input.expiresAt ? { expires_at: input.expiresAt } : {}),
      };
      try {
        await keys.create(item);
        logger.info('api key created', {
          key_id: item.key_id,
          user_id: item.user_id,
          project_id: item.project_id,
        });
        return { ok: true, apiKey: generated.key, key: toKeyMetadata(item, now), item };
      } catch (error) {
        if (error instanceof UserNotActiveError) return USER_REFUSALS[error.reason]();
        if (error instanceof KeyCollisionError) {
          logger.warn('api key hash collision, retrying with a fresh key', {
            attempt,
            hash_prefix: hashPrefix(generated.hash),
          });
          continue;
        }
        throw error;
      }
    }
    logger.error('api key generation failed after repeated collisions', { attempts: maxCreateAttempts });
    return refuse('key_generation_failed', 'Could not generate a unique key; retry.');
  }

  async function resolveProject(
    userId: string,
    projectId: string | undefined,
  ): Promise<Result<{ projectId: string }>> {
    const user = await users.find(userId);
    if (!user) return USER_REFUSALS.missing();
    if (user.status !== 'active') return USER_REFUSALS.suspended();
    return { ok: true, projectId: projectId ?? user.default_project_id ?? DEFAULT_PROJECT_ID };
  }

  /** The user's key by id, through the user's own key references (strongly consistent, no GSI lag). */
  async function findKey(user: UserItem | undefined, keyId: string): Promise<ApiKeyItem | undefined> {
    const keyHash = user ? keyRefsOf(user).get(keyId) : undefined;
    if (!user || !keyHash) return undefined;
    const item = await keys.findByHash(keyHash);
    return item?.user_id === user.user_id && item.key_id === keyId ? item : undefined;
  }

  async function keysOf(user: UserItem): Promise<ApiKeyItem[]> {
    return keys.findByHashes([...keyRefsOf(user).values()]);
  }

  return {
    async createUser(input: {
      userId: string;
      defaultProjectId?: string;
    }): Promise<Result<{ user: UserView }>> {
      const item = {
        user_id: input.userId,
        status: 'active' as const,
        ...(input.defaultProjectId ? { default_project_id: input.defaultProjectId } : {}),
        created_at: clock().toISOString(),
      };
      try {
        await users.create(item);
      } catch (error) {
        if (error instanceof UserExistsError)
          return refuse('user_exists', `User "${input.userId}" already exists.`);
        throw error;
      }
      return { ok: true, user: toUserView(item) };
    },

    /** Suspension is stamped onto the user's keys so verification stays one UpdateItem. */
    async setUserSuspended(userId: string, suspended: boolean): Promise<Result<{ user: UserView }>> {
      const existing = await users.find(userId);
      if (!existing) return USER_REFUSALS.missing();
      // Status first: from here no new key can be created, and the returned item lists
      // every key created before (each create records itself on the user atomically).
      const user = await users.setStatus(userId, suspended ? 'suspended' : 'active', clock());
      await keys.setUserSuspended([...keyRefsOf(user).values()], suspended);
      return { ok: true, user: toUserView(user) };
    },

    async createKey(input: {
      userId: string;
      name?: string;
      projectId?: string;
      expiresAt?: string;
    }): Promise<Result<{ apiKey: string; key: KeyMetadata }>> {
      let expiresAt: string | undefined;
      if (input.expiresAt !== undefined) {
        const at = new Date(input.expiresAt);
        if (Number.isNaN(at.getTime()) || at <= clock()) {
          return refuse('invalid_expiry', 'expiresAt must be an ISO 8601 instant in the future.');
        }
        expiresAt = at.toISOString();
      }
      const project = await resolveProject(input.userId, input.projectId);
      if (!project.ok) return project;
      const issued = await issueKey({
        ...input,
        projectId: project.projectId,
        ...(expiresAt ? { expiresAt } : {}),
      });
      if (!issued.ok) return issued;
      return { ok: true, apiKey: issued.apiKey, key: issued.key };
    },

    /** Format and checksum first (no database call for garbage), then one conditional UpdateItem. */
    async verify(candidate: unknown): Promise<VerifyResult> {
      if (!isWellFormedKey(candidate)) return { ok: false, reason: 'malformed' };
      const outcome = await keys.verifyAndCount(hashKey(candidate), clock());
      if (!outcome.ok) return outcome;
      return {
        ok: true,
        userId: outcome.item.user_id,
        keyId: outcome.item.key_id,
        projectId: outcome.item.project_id,
      };
    },

    async listKeys(input: {
      userId: string;
      limit: number;
      nextToken?: string;
    }): Promise<Result<{ keys: KeyMetadata[]; nextToken: string | null }>> {
      let startKey: Record<string, unknown> | undefined;
      if (input.nextToken !== undefined) {
        startKey = decodeToken(input.nextToken, input.userId);
        if (!startKey) return refuse('invalid_next_token', "nextToken is not one this user's list returned.");
      }
      const page = await keys.listByUser(input.userId, input.limit, startKey);
      const now = clock();
      return {
        ok: true,
        keys: page.items.map((item) => toKeyMetadata(item, now)),
        nextToken: page.lastKey ? encodeToken(page.lastKey) : null,
      };
    },

    async getKey(input: { userId: string; keyId: string }): Promise<Result<{ key: KeyMetadata }>> {
      const item = await findKey(await users.find(input.userId), input.keyId);
      if (!item) return refuse('key_not_found', `User "${input.userId}" has no key "${input.keyId}".`);
      return { ok: true, key: toKeyMetadata(item, clock()) };
    },

    async revokeKey(input: {
      userId: string;
      keyId: string;
      reason?: string;
    }): Promise<Result<{ key: KeyMetadata }>> {
      const item = await findKey(await users.find(input.userId), input.keyId);
      if (!item) return refuse('key_not_found', `User "${input.userId}" has no key "${input.keyId}".`);
      const now = clock();
      try {
        const revoked = await keys.revoke(item.key_hash, now, input.reason ?? 'revoked by operator');
        logger.info('api key revoked', { key_id: item.key_id, user_id: item.user_id });
        return { ok: true, key: toKeyMetadata(revoked, now) };
      } catch (error) {
        if (error instanceof KeyStateError)
          return refuse('key_not_active', `Key "${input.keyId}" is already revoked.`);
        throw error;
      }
    },

    /**
     * Retire the user's active keys (or only `keyId`) and issue one new key. Each retirement
     * is conditional and happens once, so concurrent rotations cannot both retire a key;
     * a rotation of one named key that loses that race issues nothing.
     */
    async rotate(input: {
      userId: string;
      keyId?: string;
      graceSeconds?: number;
      name?: string;
    }): Promise<Result<{ apiKey: string; key: KeyMetadata; retired: KeyMetadata[] }>> {
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
        const item = await findKey(user, input.keyId);
        if (!item) return refuse('key_not_found', `User "${input.userId}" has no key "${input.keyId}".`);
        if (!isActive(item))
          return refuse('key_not_active', `Key "${input.keyId}" is not active; nothing to rotate.`);
        candidates = [item];
      } else {
        candidates = (await keysOf(user)).filter(isActive);
      }

      const graceEnd = graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : undefined;
      const retired: KeyMetadata[] = [];
      for (const item of candidates) {
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
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
