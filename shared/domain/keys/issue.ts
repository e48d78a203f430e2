/**
 * Issuing a key: a fresh secret, its stored item, and the store's one create transaction
 * (user exists and is active; hash never overwritten; a new budget item written with the
 * key). A hash collision is retried with a new secret, a bounded number of times. The
 * plaintext leaves only in the answer.
 */
import { randomBytes } from 'node:crypto';
import { type BudgetConfig, budgetRefFor, freshBudgetItem, newBudgetId } from '../budgets/admin.js';
import type { BudgetItem, KeyBudgetRef } from '../budgets/model.js';
import type { Clock, LogSink } from '../ports.js';
import {
  CURRENT_HASH_VERSION,
  generateKey,
  hashPrefix,
  type KeyEnvironment,
  type RandomSource,
  toBase62,
} from './format.js';
import type { Quota, RateLimit } from './limits.js';
import { type KeyMetadata, toKeyMetadata } from './metadata.js';
import type { ApiKeyItem, KeyScopes } from './model.js';
import { KeyCollisionError, type KeyStore, StoreConflictError, UserNotActiveError } from './ports.js';
import { CONFLICT_REFUSAL, type Result, refuse, USER_REFUSALS } from './results.js';
import { newShardItems, shardCountOf } from './shards.js';
import { budgetRefOf } from './verify.js';

/**
 * A key's spend budget (SPEC §5b): a new one, created in the key's transaction, or the one
 * the key a rotation replaces draws on, shared (never reset, never doubled).
 */
export type IssueBudget = { kind: 'new'; config: BudgetConfig } | { kind: 'shared'; ref: KeyBudgetRef };

export interface IssueInput {
  userId: string;
  projectId: string;
  /** Created with an explicit project (or rotated from such a key): bound to it (SPEC §5). */
  projectBound: boolean;
  name?: string;
  expiresAt?: string;
  /** The key's own limits and scopes (SPEC §5); its counters always start fresh. */
  rateLimit?: RateLimit;
  quota?: Quota;
  budget?: IssueBudget;
  scopes?: KeyScopes;
  /** 1–64 items the key counts on (docs/decisions/0012-sharded-keys.md); 1 when absent. */
  shards?: number;
  /** Chosen beforehand by a rotation, which records it in its claim; fresh otherwise. */
  keyId?: string;
}

export interface KeyIssuerOptions {
  keys: Pick<KeyStore, 'create'>;
  /** Which keys this stage issues: `kg_live_` in prod, `kg_test_` elsewhere. */
  environment: KeyEnvironment;
  logger: LogSink;
  clock: Clock;
  random: RandomSource;
  /** Attempts at a fresh key when the hash already exists. */
  maxAttempts: number;
}

/** `expiresAt` as a canonical ISO instant when it lies after `now`; undefined when it is not a future instant. */
export function futureExpiry(expiresAt: string, now: Date): string | undefined {
  const at = new Date(expiresAt);
  return Number.isNaN(at.getTime()) || at <= now ? undefined : at.toISOString();
}

/**
 * A key's limits and scopes as the issuer takes them (a rotation passes them on; never the
 * counters), and its budget: the same budget item, so the new key and the old one in its
 * grace period draw on one budget.
 */
export function limitsAndScopesOf(
  item: ApiKeyItem,
): Pick<IssueInput, 'rateLimit' | 'quota' | 'budget' | 'scopes' | 'shards'> {
  const budget = budgetRefOf(item);
  const shards = shardCountOf(item);
  return {
    ...(item.rate_limit !== undefined && item.rate_window !== undefined
      ? { rateLimit: { limit: item.rate_limit, windowSeconds: item.rate_window } }
      : {}),
    ...(item.quota_limit !== undefined && item.quota_period !== undefined
      ? { quota: { limit: item.quota_limit, period: item.quota_period } }
      : {}),
    ...(budget ? { budget: { kind: 'shared', ref: budget } } : {}),
    ...(item.scopes ? { scopes: item.scopes } : {}),
    // A hot key's successor carries the same load.
    ...(shards > 1 ? { shards } : {}),
  };
}

/** The key item's copies of its budget (hints for the request path; the budget item is the truth). */
const budgetAttributes = (ref: KeyBudgetRef): Partial<ApiKeyItem> => ({
  budget_id: ref.budgetId,
  budget_limit: ref.limit,
  budget_period: ref.period,
  budget_hold: ref.hold,
});

/** The stored attributes of a key's limits and scopes (SPEC §5; no counter until the first call). */
function limitAttributes(input: IssueInput): Partial<ApiKeyItem> {
  return {
    ...(input.rateLimit
      ? { rate_limit: input.rateLimit.limit, rate_window: input.rateLimit.windowSeconds }
      : {}),
    ...(input.quota ? { quota_limit: input.quota.limit, quota_period: input.quota.period } : {}),
    ...(input.scopes ? { scopes: input.scopes } : {}),
  };
}

/** `key_` + 22 base62 chars of fresh randomness: never derived from the secret. */
export function newKeyId(): string {
  return `key_${toBase62(BigInt(`0x${randomBytes(16).toString('hex')}`), 22)}`;
}

export function createKeyIssuer(options: KeyIssuerOptions) {
  const { keys, environment, logger, clock, random, maxAttempts } = options;

  return async function issueKey(
    input: IssueInput,
  ): Promise<Result<{ apiKey: string; key: KeyMetadata; item: ApiKeyItem; budget?: BudgetItem }>> {
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      const generated = generateKey(environment, random);
      const now = clock();
      const keyId = input.keyId ?? newKeyId();
      // A new budget per attempt: its id is fresh like the key's, so a retry never meets its own.
      let budget: BudgetItem | undefined;
      let ref: KeyBudgetRef | undefined;
      if (input.budget?.kind === 'new') {
        const { config } = input.budget;
        budget = freshBudgetItem({ budgetId: newBudgetId(), userId: input.userId, keyId, config, now });
        ref = budgetRefFor(budget.budget_id, config);
      } else {
        ref = input.budget?.ref;
      }
      const item: ApiKeyItem = {
        key_hash: generated.hash,
        hash_version: CURRENT_HASH_VERSION,
        key_id: keyId,
        user_id: input.userId,
        project_id: input.projectId,
        ...(input.projectBound ? { project_bound: true } : {}),
        ...(input.name ? { name: input.name } : {}),
        status: 'active',
        start: generated.start,
        created_at: now.toISOString(),
        usage_count: 0,
        ...(input.expiresAt ? { expires_at: input.expiresAt } : {}),
        ...limitAttributes(input),
        ...(ref ? budgetAttributes(ref) : {}),
        ...(input.shards !== undefined && input.shards > 1 ? { shards: input.shards } : {}),
      };
      try {
        // A sharded key's shard items are written in the key's one transaction.
        await keys.create(item, budget, item.shards ? newShardItems(item, item.shards) : undefined);
        logger.info('api key created', {
          key_id: item.key_id,
          user_id: item.user_id,
          project_id: item.project_id,
          ...(ref ? { budget_id: ref.budgetId } : {}),
          ...(item.shards ? { shards: item.shards } : {}),
        });
        // A shared budget's view needs its item read; the caller describes the key then.
        return {
          ok: true,
          apiKey: generated.key,
          key: toKeyMetadata(item, now, budget),
          item,
          ...(budget ? { budget } : {}),
        };
      } catch (error) {
        if (error instanceof UserNotActiveError) return USER_REFUSALS[error.reason]();
        if (error instanceof StoreConflictError) return CONFLICT_REFUSAL();
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
    logger.error('api key generation failed after repeated collisions', { attempts: maxAttempts });
    return refuse('key_generation_failed', 'Could not generate a unique key; retry.');
  };
}

export type IssueKey = ReturnType<typeof createKeyIssuer>;
