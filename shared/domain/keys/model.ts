/** The stored shapes of SPEC §5 (types and their constants only; the rules live beside them). */

/** A key's environment (SPEC §5): `live` keys for prod, `test` keys for every other stage. */
export const KEY_ENVIRONMENTS = ['live', 'test'] as const;
export type KeyEnvironment = (typeof KEY_ENVIRONMENTS)[number];

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

/** A key's project when neither the create event nor the user names one (SPEC §5). */
export const DEFAULT_PROJECT_ID = 'default';
