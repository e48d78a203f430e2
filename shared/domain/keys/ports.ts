/**
 * What the key domain needs from a store, and the errors a store raises for expected
 * conditions. The DynamoDB adapters (shared/adapters/dynamodb) implement these; the domain
 * never sees an SDK type, and it alone decides what a stored state means.
 */
import type { ApiKeyItem, UserItem, UserStatus } from './model.js';

/** The one conditional write of a request: the counted item, or the item as it was when refused. */
export type VerifyWrite = { ok: true; item: ApiKeyItem } | { ok: false; current: ApiKeyItem | undefined };

export interface KeyPage {
  items: ApiKeyItem[];
  /** Where the next page starts (the store's own cursor), absent on the last page. */
  cursor?: Record<string, string>;
}

export interface KeyVerificationStore {
  /**
   * In ONE conditional write: the key exists, is active, not expired at `now`, its user is
   * not suspended → count it (`last_used_at`, `usage_count`). Refused: the current item.
   */
  verifyAndCount(keyHash: string, now: Date): Promise<VerifyWrite>;
}

export interface KeyStore extends KeyVerificationStore {
  /** Atomically with recording it on its user, who must exist and be active. */
  create(item: ApiKeyItem): Promise<void>;
  findByHash(keyHash: string): Promise<ApiKeyItem | undefined>;
  /** Strongly consistent reads, in the given order (missing ones left out). */
  findByHashes(keyHashes: readonly string[]): Promise<ApiKeyItem[]>;
  /** The user's keys, newest first. */
  listByUser(userId: string, limit: number, cursor?: Record<string, string>): Promise<KeyPage>;
  /** Active → revoked; KeyStateError otherwise. */
  revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem>;
  /** Retire for rotation at most once: revoke now, or expire at `expiresAt`; KeyStateError otherwise. */
  retire(keyHash: string, now: Date, expiresAt: Date | undefined): Promise<ApiKeyItem>;
  /** Stamp (or clear) the user's suspension on these keys, so verification stays one write. */
  setUserSuspended(keyHashes: readonly string[], suspended: boolean): Promise<void>;
}

export interface UserStore {
  /** UserExistsError when the user is already there. */
  create(item: UserItem): Promise<void>;
  find(userId: string): Promise<UserItem | undefined>;
  /** The user after the change; UserNotActiveError('missing') when there is none. */
  setStatus(userId: string, status: UserStatus, now: Date): Promise<UserItem>;
}

/** Conditions a store reports by throwing: expected by the domain, never shown raw. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The key's hash already exists (a 256-bit collision, or an injected one in tests). */
export class KeyCollisionError extends StoreError {}
/** The foreign key failed: the user is missing or not active. */
export class UserNotActiveError extends StoreError {
  constructor(readonly reason: 'missing' | 'suspended') {
    super(reason === 'missing' ? 'user does not exist' : 'user is suspended');
  }
}
export class UserExistsError extends StoreError {}
/** The conditional update found the key in another state than required. */
export class KeyStateError extends StoreError {}
