/**
 * What both kinds of rotation share (SPEC §6): their inputs and result, which keys may be
 * retired, what a new key inherits, and when a retired key stops working.
 */
import type { Clock, LogSink } from '../ports.js';
import type { DescribeKeys } from './budget-views.js';
import { type IssueInput, type IssueKey, limitsAndScopesOf } from './issue.js';
import type { KeyLookup } from './lookup.js';
import type { KeyMetadata } from './metadata.js';
import { type ApiKeyItem, DEFAULT_PROJECT_ID, type UserItem } from './model.js';
import type { KeyStore, UserStore } from './ports.js';
import type { Result } from './results.js';

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

/** A named rotation holds the key and its claim has not lapsed. */
export const claimHeld = (item: ApiKeyItem, now: Date): boolean =>
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
export function freshFor(user: UserItem): Omit<IssueInput, 'userId' | 'keyId'> {
  return { projectId: user.default_project_id ?? DEFAULT_PROJECT_ID, projectBound: false };
}

/** The retired key's expiry: the grace period's end, unless it already expires earlier. */
export function expiryOf(item: ApiKeyItem, graceEnd: Date | undefined): Date | undefined {
  if (!graceEnd) return undefined;
  return item.expires_at && item.expires_at < graceEnd.toISOString() ? new Date(item.expires_at) : graceEnd;
}
