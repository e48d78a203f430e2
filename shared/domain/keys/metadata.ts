/** The public key and user views of SPEC §6: every field present, `null` when absent; never the hash or secret. */
import type { ApiKeyItem, KeyStatus, UserItem, UserStatus } from './model.js';

/** Metadata shown to ops: every field present, `null` when absent; never the hash or secret. */
export interface KeyMetadata {
  keyId: string;
  userId: string;
  projectId: string;
  /** Created with an explicit projectId: requests naming another project are refused. */
  projectBound: boolean;
  name: string | null;
  status: KeyStatus | 'expired';
  start: string;
  createdAt: string;
  lastUsedAt: string | null;
  usageCount: number;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
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
    projectBound: item.project_bound === true,
    name: item.name ?? null,
    status: expired ? 'expired' : item.status,
    start: item.start,
    createdAt: item.created_at,
    lastUsedAt: item.last_used_at ?? null,
    usageCount: item.usage_count,
    expiresAt: item.expires_at ?? null,
    revokedAt: item.revoked_at ?? null,
    revokedReason: item.revoked_reason ?? null,
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
