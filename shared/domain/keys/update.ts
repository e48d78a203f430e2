/**
 * keys-admin's `update` (SPEC §6): change a key's name, expiry, limits, budget or scopes in one
 * conditional write — a value sets a field, `null` clears it, an absent field stays. Only an
 * active key of the user can change (a revoked key stays as it was revoked). A limit whose
 * window length (quota period) changes restarts its counting; a new limit alone keeps the
 * count, so raising or lowering a limit takes effect within the current window
 * (docs/decisions/0007-key-limits.md).
 *
 * A budget (SPEC §5b) lives on its own item, which is written before the key names it:
 * - a key without one gets a new budget item, then the key write names it;
 * - a key with one has its budget item reconfigured (conditioned on the configuration read, so
 *   a concurrent change is seen and retried), then the key's copies follow. What was spent
 *   stays spent unless the period changes (counting restarts in the new period); open holds
 *   stay held either way. Setting a budget — even to what it is — also lifts a block from an
 *   overspend or a foreign payment: that is the operator's decision to make;
 * - `budget: null` removes the key's budget fields only: the budget item is left as it is, so
 *   a key in a rotation's grace period still drawing on it stays capped by it.
 * The budget item a key names is shared with the key it was rotated from or to: changing it
 * changes the budget both draw on.
 */
import {
  type BudgetConfig,
  type BudgetSetting,
  budgetConfigOf,
  budgetRefFor,
  configOfBudget,
  freshBudgetItem,
  newBudgetId,
} from '../budgets/admin.js';
import type { BudgetItem } from '../budgets/model.js';
import type { Micros } from '../budgets/money.js';
import type { BudgetStore } from '../budgets/ports.js';
import type { Clock, LogSink } from '../ports.js';
import type { DescribeKeys } from './budget-views.js';
import { futureExpiry } from './issue.js';
import { periodStartOf, type Quota, type RateLimit, windowStartOf } from './limits.js';
import type { KeyLookup } from './lookup.js';
import type { KeyMetadata } from './metadata.js';
import type { ApiKeyItem, KeyScopes } from './model.js';
import type { KeyChange, KeyStore } from './ports.js';
import { CONFLICT_REFUSAL, keyNotFound, type Refusal, type Result, refuse } from './results.js';

export interface UpdateKeyInput {
  userId: string;
  keyId: string;
  name?: string | null;
  expiresAt?: string | null;
  rateLimit?: RateLimit | null;
  quota?: Quota | null;
  budget?: BudgetSetting | null;
  scopes?: KeyScopes | null;
  /** 1–64: the key's new shard count (docs/decisions/0012-sharded-keys.md). */
  shards?: number;
}

export interface KeyUpdateOptions {
  keys: Pick<KeyStore, 'update'>;
  budgets: Pick<BudgetStore, 'create' | 'find' | 'reconfigure'>;
  /** The per-call hold of a budget set without one (capped at its limit; ../budgets/admin.ts). */
  defaultBudgetHold: Micros;
  lookup: KeyLookup;
  /** The answer's metadata, with the key's budget as its item shows it. */
  describe: DescribeKeys;
  logger: LogSink;
  clock: Clock;
}

/**
 * Writes per update: a write fails only when the key was revoked meanwhile (answered) or
 * another update changed a kept counter's window in between (computed again from the item
 * the refused write returned).
 */
const MAX_WRITES = 3;

/** Reconfigurations per budget: each refused one is retried from the configuration it found. */
const MAX_BUDGET_WRITES = 3;

const notActive = (keyId: string) =>
  refuse('key_not_active', `Key "${keyId}" is revoked; a revoked key cannot be updated.`);

/**
 * The write for `input` on the key as it is now (which counters the new limits keep);
 * `expiresAt` is the input's expiry already checked and made canonical; `budget` the budget
 * the key is to name, its item already written (a `null` input clears it instead).
 */
export function changeFor(
  input: UpdateKeyInput,
  item: ApiKeyItem,
  expiresAt: string | null | undefined,
  budget?: NonNullable<KeyChange['budget']>,
  now: Date = new Date(),
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
  if (input.budget === null) change.budget = null;
  else if (budget) change.budget = budget;
  if (input.scopes !== undefined) change.scopes = input.scopes;
  const fromShards = item.shards ?? 1;
  if (input.shards !== undefined && input.shards !== fromShards) change.shards = input.shards;
  if (fromShards > 1 || (change.shards ?? 1) > 1) {
    // The windows the shards' counts are moved in: those of the key's limits after the change.
    const rateWindow = change.rateLimit === undefined ? item.rate_window : change.rateLimit?.windowSeconds;
    const quotaPeriod = change.quota === undefined ? item.quota_period : change.quota?.period;
    change.sharding = {
      before: {
        shards: fromShards,
        ...(item.rate_limit !== undefined ? { rateLimit: item.rate_limit } : {}),
        ...(item.quota_limit !== undefined ? { quotaLimit: item.quota_limit } : {}),
      },
      windows: {
        ...(rateWindow !== undefined ? { rate: windowStartOf(now, rateWindow) } : {}),
        ...(quotaPeriod !== undefined ? { quota: periodStartOf(now, quotaPeriod) } : {}),
      },
    };
  }
  return change;
}

/** The fields an update names, for the log (never their values). */
const changedFields = (input: UpdateKeyInput): string[] =>
  (['name', 'expiresAt', 'rateLimit', 'quota', 'budget', 'scopes', 'shards'] as const).filter(
    (field) => input[field] !== undefined,
  );

export function createKeyUpdate(options: KeyUpdateOptions) {
  const { keys, budgets, lookup, describe, logger, clock } = options;

  /**
   * The budget item the key names, reconfigured to `config`; undefined when there is none to
   * reconfigure (the key has no budget, or its item is missing: a new one replaces it).
   */
  async function reconfigured(
    budgetId: string,
    config: BudgetConfig,
  ): Promise<BudgetItem | undefined | Refusal> {
    let current = await budgets.find(budgetId);
    for (let attempt = 1; current; attempt += 1) {
      if (attempt > MAX_BUDGET_WRITES) return CONFLICT_REFUSAL();
      const expected = configOfBudget(current);
      const written = await budgets.reconfigure({
        budgetId,
        expected,
        next: config,
        // Another period: counting restarts in the one that holds now.
        ...(expected.period !== config.period ? { periodStart: periodStartOf(clock(), config.period) } : {}),
      });
      if (written.ok) return written.item;
      // Changed meanwhile (another update): retried from the configuration the refusal shows.
      current = written.current;
    }
    return undefined;
  }

  /**
   * Writes the budget item `config` asks for before the key names it, and the key change that
   * names it. `created`: the item an earlier attempt of this update created and the key does
   * not name yet (reused, not created again).
   */
  async function budgetFor(
    item: ApiKeyItem,
    config: BudgetConfig,
    created: BudgetItem | undefined,
  ): Promise<{ change: NonNullable<KeyChange['budget']>; created?: BudgetItem } | Refusal> {
    const expectedBudgetId = item.budget_id ?? null;
    if (item.budget_id !== undefined) {
      const budget = await reconfigured(item.budget_id, config);
      if (budget && 'ok' in budget) return budget;
      if (budget) return { change: { ref: budgetRefFor(budget.budget_id, config), expectedBudgetId } };
      logger.warn('key names a missing budget; a new one replaces it', {
        key_id: item.key_id,
        budget_id: item.budget_id,
      });
    }
    let fresh = created;
    if (!fresh) {
      fresh = freshBudgetItem({
        budgetId: newBudgetId(),
        userId: item.user_id,
        keyId: item.key_id,
        config,
        now: clock(),
      });
      await budgets.create(fresh);
    }
    return { change: { ref: budgetRefFor(fresh.budget_id, config), expectedBudgetId }, created: fresh };
  }

  return async function updateKey(input: UpdateKeyInput): Promise<Result<{ key: KeyMetadata }>> {
    let expiresAt: string | null | undefined = input.expiresAt;
    if (typeof input.expiresAt === 'string') {
      expiresAt = futureExpiry(input.expiresAt, clock());
      if (expiresAt === undefined) {
        return refuse('invalid_expiry', 'expiresAt must be an ISO 8601 instant in the future.');
      }
    }
    const config = input.budget ? budgetConfigOf(input.budget, options.defaultBudgetHold) : undefined;
    let item = await lookup.findKey(input.userId, input.keyId);
    if (!item) return keyNotFound(input.userId, input.keyId);

    let created: BudgetItem | undefined;
    for (let attempt = 1; ; attempt += 1) {
      if (item.status !== 'active') return notActive(input.keyId);
      if (attempt > MAX_WRITES) return CONFLICT_REFUSAL();
      let budget: NonNullable<KeyChange['budget']> | undefined;
      if (config) {
        const prepared = await budgetFor(item, config, created);
        if ('ok' in prepared) return prepared;
        budget = prepared.change;
        created = prepared.created;
      }
      const written = await keys.update(
        item.key_hash,
        input.userId,
        changeFor(input, item, expiresAt, budget, clock()),
      );
      if (written.ok) {
        logger.info('api key updated', {
          key_id: written.item.key_id,
          user_id: written.item.user_id,
          fields: changedFields(input),
          ...(budget ? { budget_id: budget.ref.budgetId } : {}),
        });
        const [key] = (await describe([written.item], clock())) as [KeyMetadata];
        return { ok: true, key };
      }
      const current = written.current;
      if (!current || current.user_id !== input.userId) return keyNotFound(input.userId, input.keyId);
      // Revoked meanwhile, or a concurrent update changed a window this one keeps: read from the refusal.
      item = current;
    }
  };
}

export type UpdateKey = ReturnType<typeof createKeyUpdate>;
