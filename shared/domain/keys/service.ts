/**
 * The key administration domain that keys-admin runs: users, create, update, list, get,
 * usage, revoke, rotate, suspend — composed from the single-job modules beside it. Expected
 * outcomes are values (`{ok:false, …}`); only infrastructure failures throw. The plaintext key
 * leaves this domain once, in the answer to create/rotate; logs carry key_id or a hash prefix
 * only.
 * (The request path's verification is ./verify.ts alone, so the authorizer bundles none of this.)
 */
import { type BudgetSetting, budgetConfigOf, defaultHoldOf } from '../budgets/admin.js';
import type { BudgetStore } from '../budgets/ports.js';
import { type Clock, type LogSink, systemClock } from '../ports.js';
import { createBudgetViews, type DescribeKeys } from './budget-views.js';
import { cryptoRandom, type KeyEnvironment, type RandomSource } from './format.js';
import { createKeyIssuer, futureExpiry } from './issue.js';
import type { Quota, RateLimit } from './limits.js';
import { createKeyLookup } from './lookup.js';
import { type KeyMetadata, toUserView, type UserView } from './metadata.js';
import { type ApiKeyItem, DEFAULT_PROJECT_ID, type KeyScopes, type UserItem } from './model.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { KeyStateError, type KeyStore, UserExistsError, type UserStore } from './ports.js';
import { keyNotFound, type Result, refuse, USER_REFUSALS } from './results.js';
import { createRotation } from './rotate.js';
import { createUserStatusChange } from './suspension.js';
import { createKeyUpdate, type UpdateKeyInput } from './update.js';
import { type KeyUsage, toKeyUsage } from './usage.js';
import { createKeyVerifier } from './verify.js';

export type { Refusal, RefusalCode, Result } from './results.js';
export type { VerifyRefusalReason, VerifyResult } from './verify.js';

/** Which page of a user's keys: at most `limit`, after the key `nextToken` names. */
export interface PageRequest {
  userId: string;
  limit: number;
  nextToken?: string;
}

export interface KeyServiceOptions {
  keys: KeyStore;
  users: UserStore;
  /** Spend budgets (SPEC §5b): created with a key or by `update`, read for every key view. */
  budgets: BudgetStore;
  /**
   * The stage's per-call hold (USD) for a budget set without `perCallHold` (`BUDGET_DEFAULT_HOLD_USD`;
   * 0.50 when absent), capped at the budget's limit (../budgets/admin.ts).
   */
  defaultBudgetHoldUsd?: number;
  /** The stage's key environment (SPEC §5): which keys it issues and accepts. */
  environment: KeyEnvironment;
  logger: LogSink;
  clock?: Clock;
  random?: RandomSource;
  /** Attempts at a fresh key when the hash already exists (bounded). */
  maxCreateAttempts?: number;
  /** Per-key writes in flight at once when suspending or rotating many keys. */
  writeConcurrency?: number;
  /** Keys per page when stamping a user's status (the resume point moves once per page). */
  stampPageSize?: number;
}

export function createKeyService(options: KeyServiceOptions) {
  const { keys, users, budgets, logger } = options;
  const clock = options.clock ?? systemClock;
  // Checked once at construction: a bad stage setting fails the cold start, not a create.
  const defaultBudgetHold = defaultHoldOf(options.defaultBudgetHoldUsd);
  const views = createBudgetViews({ budgets, logger });
  const lookup = createKeyLookup(keys);
  /** Every view of keys: a sharded key's counters are its shards' sums (./lookup.ts `counted`). */
  const describe: DescribeKeys = async (items, now) => views.describe(await lookup.counted(items, now), now);
  const issueKey = createKeyIssuer({
    keys,
    environment: options.environment,
    logger,
    clock,
    random: options.random ?? cryptoRandom,
    maxAttempts: options.maxCreateAttempts ?? 3,
  });
  const verifier = createKeyVerifier({ keys, environment: options.environment, clock });
  const concurrency = options.writeConcurrency ?? 25;
  const updateKey = createKeyUpdate({ keys, budgets, defaultBudgetHold, lookup, describe, logger, clock });

  /**
   * A page of the user's keys as `list` pages them: newest first through the user index, each
   * item read strongly consistently from ApiKeys (counters included); `nextToken` names the
   * page's last key (./page-token.ts).
   */
  async function pageOfKeys(
    input: PageRequest,
  ): Promise<Result<{ items: ApiKeyItem[]; nextToken: string | null }>> {
    let after: Awaited<ReturnType<typeof decodePageToken>>;
    if (input.nextToken !== undefined) {
      after = await decodePageToken(keys, input.nextToken, input.userId);
      if (!after) return refuse('invalid_next_token', "nextToken is not one this user's list returned.");
    }
    const page = await keys.listByUser(input.userId, input.limit, after);
    return { ok: true, items: page.items, nextToken: page.last ? encodePageToken(page.last) : null };
  }

  return {
    verify: verifier.verify,
    check: verifier.check,
    rotate: createRotation({ keys, users, lookup, issueKey, describe, logger, clock, concurrency }),
    /** Suspension and reactivation: the status at once, then its stamp on every key (resumable). */
    setUserStatus: createUserStatusChange({
      keys,
      users,
      logger,
      clock,
      concurrency,
      pageSize: options.stampPageSize ?? 500,
    }),

    async createUser(input: {
      userId: string;
      defaultProjectId?: string;
    }): Promise<Result<{ user: UserView }>> {
      const item: UserItem = {
        user_id: input.userId,
        status: 'active',
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

    /**
     * Change a key's name, expiry, limits, budget, scopes (`null` clears) or shard count; see
     * ./update.ts. A re-sharded key is described as it is read after the move: the write's own
     * item still names the shards it had while they were moved.
     */
    async updateKey(input: UpdateKeyInput): Promise<Result<{ key: KeyMetadata }>> {
      const updated = await updateKey(input);
      if (!updated.ok || input.shards === undefined) return updated;
      const item = await lookup.findKey(input.userId, input.keyId);
      if (!item) return updated;
      const [key] = (await describe([item], clock())) as [KeyMetadata];
      return { ok: true, key };
    },

    async createKey(input: {
      userId: string;
      name?: string;
      projectId?: string;
      expiresAt?: string;
      rateLimit?: RateLimit;
      quota?: Quota;
      /** A new budget item, written in the key's create transaction. */
      budget?: BudgetSetting;
      scopes?: KeyScopes;
      /** 1–64 items the key counts on (docs/decisions/0012-sharded-keys.md). */
      shards?: number;
    }): Promise<Result<{ apiKey: string; key: KeyMetadata }>> {
      let expiresAt: string | undefined;
      if (input.expiresAt !== undefined) {
        expiresAt = futureExpiry(input.expiresAt, clock());
        if (expiresAt === undefined) {
          return refuse('invalid_expiry', 'expiresAt must be an ISO 8601 instant in the future.');
        }
      }
      const user = await users.find(input.userId);
      if (!user) return USER_REFUSALS.missing();
      if (user.status !== 'active') return USER_REFUSALS.suspended();
      const issued = await issueKey({
        userId: input.userId,
        ...(input.name ? { name: input.name } : {}),
        projectId: input.projectId ?? user.default_project_id ?? DEFAULT_PROJECT_ID,
        projectBound: input.projectId !== undefined,
        ...(expiresAt ? { expiresAt } : {}),
        ...(input.rateLimit ? { rateLimit: input.rateLimit } : {}),
        ...(input.quota ? { quota: input.quota } : {}),
        ...(input.budget
          ? { budget: { kind: 'new' as const, config: budgetConfigOf(input.budget, defaultBudgetHold) } }
          : {}),
        ...(input.scopes ? { scopes: input.scopes } : {}),
        ...(input.shards !== undefined ? { shards: input.shards } : {}),
      });
      if (!issued.ok) return issued;
      // The view of the budget item just written with the key: nothing to read.
      return { ok: true, apiKey: issued.apiKey, key: issued.key };
    },

    async listKeys(input: PageRequest): Promise<Result<{ keys: KeyMetadata[]; nextToken: string | null }>> {
      const page = await pageOfKeys(input);
      if (!page.ok) return page;
      return { ok: true, keys: await describe(page.items, clock()), nextToken: page.nextToken };
    },

    /**
     * The user and its keys' usage (read-only): the page `list` would answer, or the one key
     * `keyId` names (read as `get` reads it), each with its counters, current rate window and
     * quota period, budget, and why its next call would be refused (./usage.ts).
     */
    async keyUsage(
      input: PageRequest & { keyId?: string },
    ): Promise<Result<{ user: UserView; usage: KeyUsage[]; nextToken: string | null }>> {
      const user = await users.find(input.userId);
      if (!user) return USER_REFUSALS.missing();
      let items: ApiKeyItem[];
      let nextToken: string | null = null;
      if (input.keyId !== undefined) {
        const item = await lookup.findKey(input.userId, input.keyId);
        if (!item) return keyNotFound(input.userId, input.keyId);
        items = [item];
      } else {
        const page = await pageOfKeys(input);
        if (!page.ok) return page;
        ({ items, nextToken } = page);
      }
      const now = clock();
      items = await lookup.counted(items, now);
      const budgetOf = await views.budgetsOf(items);
      return {
        ok: true,
        user: toUserView(user),
        usage: items.map((item) => toKeyUsage(item, user, now, budgetOf(item))),
        nextToken,
      };
    },

    async getKey(input: { userId: string; keyId: string }): Promise<Result<{ key: KeyMetadata }>> {
      const item = await lookup.findKey(input.userId, input.keyId);
      if (!item) return keyNotFound(input.userId, input.keyId);
      const [key] = (await describe([item], clock())) as [KeyMetadata];
      return { ok: true, key };
    },

    async revokeKey(input: {
      userId: string;
      keyId: string;
      reason?: string;
    }): Promise<Result<{ key: KeyMetadata }>> {
      const item = await lookup.findKey(input.userId, input.keyId);
      if (!item) return keyNotFound(input.userId, input.keyId);
      const now = clock();
      let revoked: ApiKeyItem;
      try {
        revoked = await keys.revoke(item.key_hash, now, input.reason ?? 'revoked by operator');
      } catch (error) {
        if (error instanceof KeyStateError)
          return refuse('key_not_active', `Key "${input.keyId}" is already revoked.`);
        throw error;
      }
      logger.info('api key revoked', { key_id: item.key_id, user_id: item.user_id });
      const [key] = (await describe([revoked], now)) as [KeyMetadata];
      return { ok: true, key };
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
