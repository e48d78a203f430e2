/**
 * keys-admin's `update` (SPEC §6): change a key's name, expiry, limits or scopes in one
 * conditional write — a value sets a field, `null` clears it, an absent field stays. Only an
 * active key of the user can change (a revoked key stays as it was revoked). A limit whose
 * window length (quota period) changes restarts its counting; a new limit alone keeps the
 * count, so raising or lowering a limit takes effect within the current window
 * (docs/decisions/0007-key-limits.md).
 */
import type { Clock, LogSink } from '../ports.js';
import { futureExpiry } from './issue.js';
import type { Quota, RateLimit } from './limits.js';
import type { KeyLookup } from './lookup.js';
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import type { ApiKeyItem, KeyScopes } from './model.js';
import type { KeyChange, KeyStore } from './ports.js';
import { CONFLICT_REFUSAL, keyNotFound, type Result, refuse } from './results.js';

export interface UpdateKeyInput {
  userId: string;
  keyId: string;
  name?: string | null;
  expiresAt?: string | null;
  rateLimit?: RateLimit | null;
  quota?: Quota | null;
  scopes?: KeyScopes | null;
}

export interface KeyUpdateOptions {
  keys: Pick<KeyStore, 'update'>;
  lookup: KeyLookup;
  logger: LogSink;
  clock: Clock;
}

/**
 * Writes per update: a write fails only when the key was revoked meanwhile (answered) or
 * another update changed a kept counter's window in between (computed again from the item
 * the refused write returned).
 */
const MAX_WRITES = 3;

const notActive = (keyId: string) =>
  refuse('key_not_active', `Key "${keyId}" is revoked; a revoked key cannot be updated.`);

/**
 * The write for `input` on the key as it is now (which counters the new limits keep);
 * `expiresAt` is the input's expiry already checked and made canonical.
 */
export function changeFor(
  input: UpdateKeyInput,
  item: ApiKeyItem,
  expiresAt: string | null | undefined,
): KeyChange {
  const change: KeyChange = {};
  if (input.name !== undefined) change.name = input.name;
  if (expiresAt !== undefined) change.expiresAt = expiresAt;
  if (input.rateLimit !== undefined) {
    change.rateLimit = input.rateLimit && {
      limit: input.rateLimit.limit,
      windowSeconds: input.rateLimit.windowSeconds,
      // A count of another window length means nothing in the new one.
      keepCount: item.rate_window === input.rateLimit.windowSeconds,
    };
  }
  if (input.quota !== undefined) {
    change.quota = input.quota && {
      limit: input.quota.limit,
      period: input.quota.period,
      keepUsage: item.quota_period === input.quota.period,
    };
  }
  if (input.scopes !== undefined) change.scopes = input.scopes;
  return change;
}

/** The fields an update names, for the log (never their values). */
const changedFields = (input: UpdateKeyInput): string[] =>
  (['name', 'expiresAt', 'rateLimit', 'quota', 'scopes'] as const).filter(
    (field) => input[field] !== undefined,
  );

export function createKeyUpdate(options: KeyUpdateOptions) {
  const { keys, lookup, logger, clock } = options;

  return async function updateKey(input: UpdateKeyInput): Promise<Result<{ key: KeyMetadata }>> {
    let expiresAt: string | null | undefined = input.expiresAt;
    if (typeof input.expiresAt === 'string') {
      expiresAt = futureExpiry(input.expiresAt, clock());
      if (expiresAt === undefined) {
        return refuse('invalid_expiry', 'expiresAt must be an ISO 8601 instant in the future.');
      }
    }
    let item = await lookup.findKey(input.userId, input.keyId);
    if (!item) return keyNotFound(input.userId, input.keyId);

    for (let attempt = 1; ; attempt += 1) {
      if (item.status !== 'active') return notActive(input.keyId);
      if (attempt > MAX_WRITES) return CONFLICT_REFUSAL();
      const written = await keys.update(item.key_hash, input.userId, changeFor(input, item, expiresAt));
      if (written.ok) {
        logger.info('api key updated', {
          key_id: written.item.key_id,
          user_id: written.item.user_id,
          fields: changedFields(input),
        });
        return { ok: true, key: toKeyMetadata(written.item, clock()) };
      }
      const current = written.current;
      if (!current || current.user_id !== input.userId) return keyNotFound(input.userId, input.keyId);
      // Revoked meanwhile, or a concurrent update changed a window this one keeps: read from the refusal.
      item = current;
    }
  };
}

export type UpdateKey = ReturnType<typeof createKeyUpdate>;
