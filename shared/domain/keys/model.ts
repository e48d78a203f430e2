/** The stored shapes of SPEC §5 and the public key metadata of SPEC §6. */

export type KeyStatus = 'active' | 'revoked';
export type UserStatus = 'active' | 'suspended';

/** An item of the ApiKeys table (attribute names as stored). Kept well under 1 KB. */
export interface ApiKeyItem {
  key_hash: string;
  hash_version: number;
  key_id: string;
  user_id: string;
  project_id: string;
  name?: string;
  status: KeyStatus;
  start: string;
  created_at: string;
  last_used_at?: string;
  usage_count: number;
  expires_at?: string;
  revoked_at?: string;
  revoked_reason?: string;
  /** Set once when a rotation retires this key, so two rotations cannot retire it twice. */
  rotated_at?: string;
  /** Denormalised from the user so verification stays one UpdateItem (see docs). */
  user_suspended?: boolean;
}

export interface UserItem {
  user_id: string;
  status: UserStatus;
  default_project_id?: string;
  created_at: string;
  suspended_at?: string;
  /** The user's keys, `key#<key_id>` → key_hash, written in the key's create transaction. */
  [keyRef: `key#${string}`]: string;
}

/** Attribute of the Users item that points at one of the user's keys. */
export const keyRefAttribute = (keyId: string): `key#${string}` => `key#${keyId}`;

/**
 * The user's keys as `key_id → key_hash`, read from the (strongly consistent) Users item,
 * so ops actions by key id never depend on the eventually consistent GSI.
 */
export function keyRefsOf(user: UserItem): Map<string, string> {
  const refs = new Map<string, string>();
  for (const [name, value] of Object.entries(user)) {
    if (name.startsWith('key#') && typeof value === 'string') refs.set(name.slice(4), value);
  }
  return refs;
}

/** Metadata shown to ops: every field present, `null` when absent; never the hash or secret. */
export interface KeyMetadata {
  keyId: string;
  userId: string;
  projectId: string;
  name: string | null;
  status: KeyStatus | 'expired';
  start: string;
  createdAt: string;
  lastUsedAt: string | null;
  usageCount: number;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface UserView {
  userId: string;
  status: UserStatus;
  defaultProjectId: string | null;
  createdAt: string;
}

export function toKeyMetadata(item: ApiKeyItem, now: Date): KeyMetadata {
  const expired =
    item.status === 'active' && item.expires_at !== undefined && item.expires_at <= now.toISOString();
  return {
    keyId: item.key_id,
    userId: item.user_id,
    projectId: item.project_id,
    name: item.name ?? null,
    status: expired ? 'expired' : item.status,
    start: item.start,
    createdAt: item.created_at,
    lastUsedAt: item.last_used_at ?? null,
    usageCount: item.usage_count,
    expiresAt: item.expires_at ?? null,
    revokedAt: item.revoked_at ?? null,
  };
}

export function toUserView(item: UserItem): UserView {
  return {
    userId: item.user_id,
    status: item.status,
    defaultProjectId: item.default_project_id ?? null,
    createdAt: item.created_at,
  };
}
