/**
 * A sharded key's shard items (docs/decisions/0012-sharded-keys.md): read them, bring every
 * shard to the key's current settings, and move what a limit has left between shards when
 * the shard count or a limit changes. What a slice has left in its window is `*_free`, so a
 * move is an ADD on two items and capacity is never created: a removed shard is deleted first
 * (its last state comes back with the delete, atomically), then what it had left is added to
 * shard 0. A crash between two steps can only lose capacity for the rest of that window.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type ApiKeyItem, SHARD_COPIED_FIELDS, shardHashOf, sliceOf } from '../../domain/keys/model.js';

/** The current window (epoch seconds) and quota period (`YYYY-MM-DD`, `YYYY-MM`, `total`) at the change. */
export interface CurrentWindows {
  rate?: number;
  quota?: string;
}

interface Dimension {
  limit: 'rate_limit' | 'quota_limit';
  keyLimit: 'key_rate_limit' | 'key_quota_limit';
  length: 'rate_window' | 'quota_period';
  start: 'rate_window_start' | 'quota_period_start';
  count: 'rate_count' | 'quota_used';
  free: 'rate_free' | 'quota_free';
}

const RATE: Dimension = {
  limit: 'rate_limit',
  keyLimit: 'key_rate_limit',
  length: 'rate_window',
  start: 'rate_window_start',
  count: 'rate_count',
  free: 'rate_free',
};
const QUOTA: Dimension = {
  limit: 'quota_limit',
  keyLimit: 'key_quota_limit',
  length: 'quota_period',
  start: 'quota_period_start',
  count: 'quota_used',
  free: 'quota_free',
};

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;
const indexes = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Strongly consistent reads of shards 0…shards−1 of a key, in shard order (missing ones left out). */
export async function findShardItems(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  shards: number,
): Promise<ApiKeyItem[]> {
  let keys = indexes(0, shards).map((index) => ({ key_hash: shardHashOf(keyHash, index) }));
  const found: ApiKeyItem[] = [];
  for (let round = 0; keys.length > 0 && round < 5; round += 1) {
    const answer = await client.send(
      new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
    );
    found.push(...((answer.Responses?.[tableName] ?? []) as ApiKeyItem[]));
    keys = (answer.UnprocessedKeys?.[tableName]?.Keys ?? []) as { key_hash: string }[];
  }
  if (keys.length > 0) throw new Error('shard items stayed unprocessed');
  return found.sort((a, b) => (a.shard ?? 0) - (b.shard ?? 0));
}

/**
 * Every shard takes the key's current settings (status, expiry, suspension, scopes, budget,
 * limits' lengths and the whole limits), unless it already has a newer copy. Answers when
 * all shards have it, so the next request on any shard obeys the change.
 */
export async function copyToShards(
  client: DynamoDBDocumentClient,
  tableName: string,
  head: ApiKeyItem,
): Promise<void> {
  const shards = head.shards ?? 0;
  if (shards < 2) return;
  const sets: string[] = ['config_version = :version', '#shards = :shards'];
  const removes: string[] = [];
  const names: Record<string, string> = { '#shards': 'shards' };
  const values: Record<string, unknown> = { ':version': head.config_version ?? 0, ':shards': shards };
  const field = (name: string, value: unknown) => {
    names[`#${name}`] = name;
    if (value === undefined) removes.push(`#${name}`);
    else {
      sets.push(`#${name} = :${name}`);
      values[`:${name}`] = value;
    }
  };
  for (const name of SHARD_COPIED_FIELDS) field(name, head[name]);
  field(RATE.keyLimit, head.rate_limit);
  field(QUOTA.keyLimit, head.quota_limit);
  await Promise.all(
    indexes(0, shards).map(async (index) => {
      try {
        await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { key_hash: shardHashOf(head.key_hash, index) },
            ConditionExpression:
              'attribute_exists(key_hash) AND (attribute_not_exists(config_version) OR config_version <= :version)',
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        // A newer copy is already there (a later change reached it first): nothing to do.
        if (!isConditionFailure(error)) throw error;
      }
    }),
  );
}

/** What an item can still admit in `window` of `dim`: what its slice has left, or all of it when stale. */
function leftIn(item: ApiKeyItem, dim: Dimension, window: number | string): number {
  const limit = (item[dim.limit] as number | undefined) ?? 0;
  const start = item[dim.start] as number | string | undefined;
  if (start === undefined || start < window) return limit;
  if (item.shard_of === undefined) return Math.max(0, limit - ((item[dim.count] as number | undefined) ?? 0));
  return Math.max(0, (item[dim.free] as number | undefined) ?? 0);
}

async function update(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  expression: { condition?: string; update: string; values: Record<string, unknown> },
): Promise<boolean> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { key_hash: keyHash },
        ...(expression.condition ? { ConditionExpression: expression.condition } : {}),
        UpdateExpression: expression.update,
        ...(Object.keys(expression.values).length ? { ExpressionAttributeValues: expression.values } : {}),
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** A kept shard counts `window` from now on: a stale one starts it with its old slice untouched. */
function materialize(
  client: DynamoDBDocumentClient,
  tableName: string,
  hash: string,
  dim: Dimension,
  window: number | string,
) {
  return update(client, tableName, hash, {
    condition: `attribute_exists(key_hash) AND (attribute_not_exists(${dim.start}) OR ${dim.start} < :w)`,
    update: `SET ${dim.start} = :w, ${dim.count} = :zero, ${dim.free} = ${dim.limit}`,
    values: { ':w': window, ':zero': 0 },
  });
}

/** Adds `amount` (> 0) to what shard `hash` has left in `window`. */
function give(
  client: DynamoDBDocumentClient,
  tableName: string,
  hash: string,
  dim: Dimension,
  window: number | string,
  amount: number,
) {
  return update(client, tableName, hash, {
    condition: `attribute_exists(key_hash) AND ${dim.start} = :w`,
    update: `ADD ${dim.free} :amount`,
    values: { ':w': window, ':amount': amount },
  });
}

/** Takes up to `amount` of what the shards have left in `window`, never below 0 on any. */
async function take(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  shards: number,
  dim: Dimension,
  window: number | string,
  amount: number,
): Promise<void> {
  let owed = amount;
  for (const index of indexes(0, shards)) {
    const hash = shardHashOf(keyHash, index);
    for (let round = 0; owed > 0 && round < 20; round += 1) {
      const { Item: item } = await client.send(
        new GetCommand({ TableName: tableName, Key: { key_hash: hash }, ConsistentRead: true }),
      );
      const left = item ? leftIn(item as ApiKeyItem, dim, window) : 0;
      if (left <= 0) break;
      const part = Math.min(owed, left);
      const taken = await update(client, tableName, hash, {
        condition: `${dim.start} = :w AND ${dim.free} >= :part`,
        update: `ADD ${dim.free} :minus`,
        values: { ':w': window, ':part': part, ':minus': -part },
      });
      if (taken) owed -= part;
    }
    if (owed <= 0) return;
  }
}

export interface Reshape {
  before: ApiKeyItem;
  after: ApiKeyItem;
  windows: CurrentWindows;
  /** Per limit: its counting carries over (same window length or period) or restarts. */
  keep: { rate: boolean; quota: boolean };
}

/**
 * Brings the shards to `after`'s shard count and limits (its item already written). Kept
 * counts stay exact: each kept shard first counts the current window, new shards start it
 * with nothing left, a removed shard hands what it had left (and its usage) back, and the
 * limits' difference is then added to shard 0 or taken from what the shards have left.
 */
export async function reshapeShards(
  client: DynamoDBDocumentClient,
  tableName: string,
  change: Reshape,
): Promise<void> {
  const { before, after, windows, keep } = change;
  const key = after.key_hash;
  const from = before.shards ?? 1;
  const to = after.shards ?? 1;
  const hashOf = (index: number, shards: number) => (shards === 1 ? key : shardHashOf(key, index));
  const dims = [
    { dim: RATE, window: windows.rate, keep: keep.rate },
    { dim: QUOTA, window: windows.quota, keep: keep.quota },
  ].filter((entry) => after[entry.dim.limit] !== undefined || before[entry.dim.limit] !== undefined);

  // 1. Kept shards count the current window (a stale one keeps its untouched old slice).
  const kept = from === 1 || to === 1 ? [] : indexes(0, Math.min(from, to));
  for (const { dim, window, keep: carries } of dims) {
    if (!carries || window === undefined) continue;
    await Promise.all(
      kept.map((index) => materialize(client, tableName, shardHashOf(key, index), dim, window)),
    );
  }

  // 2. New shards: the key's settings, each limit's new slice for later windows, nothing left in this one.
  const created = to === 1 ? [] : indexes(from === 1 ? 0 : from, to);
  await Promise.all(
    created.map((index) => {
      const item: Record<string, unknown> = {
        key_hash: shardHashOf(key, index),
        shard_of: key,
        shard: index,
        shards: to,
        usage_count: 0,
        config_version: after.config_version ?? 0,
      };
      for (const name of SHARD_COPIED_FIELDS) if (after[name] !== undefined) item[name] = after[name];
      for (const { dim, window, keep: carries } of dims) {
        const limit = after[dim.limit] as number | undefined;
        if (limit === undefined) continue;
        item[dim.limit] = sliceOf(limit, to, index);
        item[dim.keyLimit] = limit;
        if (carries && window !== undefined)
          Object.assign(item, { [dim.start]: window, [dim.count]: 0, [dim.free]: 0 });
      }
      return client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(key_hash)',
        }),
      );
    }),
  );

  // 3. What the old counting items had left, and their usage: removed shards are deleted
  // (their last state comes back atomically); an unsharded key's own item stops counting
  // (its item, already written with `shards`, is `before` plus nothing admitted since).
  const handedBack = new Map<Dimension, number>();
  let usage = 0;
  const removed = from === 1 ? [] : indexes(to === 1 ? 0 : to, from);
  for (const index of removed) {
    const { Attributes } = await client.send(
      new DeleteCommand({
        TableName: tableName,
        Key: { key_hash: shardHashOf(key, index) },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const old = Attributes as ApiKeyItem | undefined;
    if (!old) continue;
    usage += old.usage_count ?? 0;
    for (const { dim, window } of dims) {
      if (window !== undefined) handedBack.set(dim, (handedBack.get(dim) ?? 0) + leftIn(old, dim, window));
    }
  }
  if (from === 1 && to > 1) {
    // `after` is the key's item as the write that sharded it left it: its counters are final.
    for (const { dim, window } of dims) {
      if (window === undefined) continue;
      handedBack.set(dim, leftIn({ ...after, [dim.limit]: before[dim.limit] }, dim, window));
    }
  }

  // 4. Later windows: every shard's new slice. 5. This window: what was handed back plus the
  // limit's change, added to shard 0 (or the key's own item when it counts again), or taken.
  for (const { dim, window, keep: carries } of dims) {
    const oldLimit = (before[dim.limit] as number | undefined) ?? 0;
    const newLimit = after[dim.limit] as number | undefined;
    const counters = `${dim.start}, ${dim.count}, ${dim.free}`;
    if (to > 1) {
      await Promise.all(
        kept.map((index) =>
          update(
            client,
            tableName,
            shardHashOf(key, index),
            newLimit === undefined
              ? // The limit is gone: so are its slice and counters.
                {
                  condition: 'attribute_exists(key_hash)',
                  update: `REMOVE ${dim.limit}, ${dim.keyLimit}, ${counters}`,
                  values: {},
                }
              : {
                  condition: 'attribute_exists(key_hash)',
                  // A new window length (period) restarts counting, as on an unsharded key (decision 0007).
                  update: `SET ${dim.limit} = :slice, ${dim.keyLimit} = :limit${carries ? '' : ` REMOVE ${counters}`}`,
                  values: { ':slice': sliceOf(newLimit, to, index), ':limit': newLimit },
                },
          ),
        ),
      );
    }
    if (!carries || window === undefined || newLimit === undefined) continue;
    if (to === 1) continue;
    const left = (handedBack.get(dim) ?? 0) + (newLimit - oldLimit);
    if (left > 0) await give(client, tableName, hashOf(0, to), dim, window, left);
    else if (left < 0) await take(client, tableName, key, to, dim, window, -left);
  }
  if (to === 1) {
    // Counting on the key's own item again, from what the shards had used; only now does its
    // item stop naming shards (until here calls were refused, never counted twice).
    const sets: string[] = [];
    const values: Record<string, unknown> = { ':usage': usage };
    for (const { dim, window, keep: carries } of dims) {
      if (!carries || window === undefined || after[dim.limit] === undefined) continue;
      const used = Math.max(0, ((before[dim.limit] as number | undefined) ?? 0) - (handedBack.get(dim) ?? 0));
      sets.push(`${dim.start} = :${dim.start}`, `${dim.count} = :${dim.count}`);
      values[`:${dim.start}`] = window;
      values[`:${dim.count}`] = used;
    }
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { key_hash: key },
        ConditionExpression: 'attribute_exists(key_hash)',
        UpdateExpression: `${sets.length ? `SET ${sets.join(', ')} ` : ''}REMOVE #shards ADD usage_count :usage`,
        ExpressionAttributeNames: { '#shards': 'shards' },
        ExpressionAttributeValues: values,
      }),
    );
  } else if (usage > 0) {
    await update(client, tableName, key, { update: 'ADD usage_count :usage', values: { ':usage': usage } });
  }
}
