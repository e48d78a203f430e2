/** keys-admin's `update` of a key's settings, as one conditional write. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import type { KeyChange, KeyChangeWrite } from '../../domain/keys/ports.js';
import { copyToShards, reshapeShards } from './key-shards.js';

/**
 * Every shard takes the change before `update` answers: the copied settings, then, when the
 * shard count or a limit changed, the move of slices and of what they have left.
 */
async function settleShards(
  client: DynamoDBDocumentClient,
  tableName: string,
  after: ApiKeyItem,
  change: KeyChange,
  sharding: NonNullable<KeyChange['sharding']>,
): Promise<void> {
  const { before, windows } = sharding;
  await copyToShards(client, tableName, after);
  const to = change.shards ?? before.shards;
  const limitsChanged =
    after.rate_limit !== before.rateLimit ||
    after.quota_limit !== before.quotaLimit ||
    change.rateLimit?.keepCount === false ||
    change.quota?.keepUsage === false;
  if (to === before.shards && !limitsChanged) return;
  await reshapeShards(client, tableName, {
    before: { ...after, shards: before.shards, rate_limit: before.rateLimit, quota_limit: before.quotaLimit },
    after: { ...after, shards: to },
    windows,
    keep: { rate: change.rateLimit?.keepCount ?? true, quota: change.quota?.keepUsage ?? true },
  });
}

/**
 * keys-admin's `update` in one conditional write: SET or REMOVE per field. A limit that
 * keeps its counter asserts the window length (period) it was counted in; a new window
 * length (period) or a cleared limit removes the counter. Refused: the item as it was.
 */
export async function updateKey(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  userId: string,
  change: KeyChange,
): Promise<KeyChangeWrite> {
  const set: string[] = [];
  const remove: string[] = [];
  const conditions = ['attribute_exists(key_hash)', 'user_id = :user', '#status = :active'];
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = { ':user': userId, ':active': 'active' };
  const assign = (attribute: string, value: unknown) => {
    set.push(`${attribute} = :${attribute}`);
    values[`:${attribute}`] = value;
  };

  // NAME is a DynamoDB reserved word.
  if (change.name === null) {
    names['#name'] = 'name';
    remove.push('#name');
  } else if (change.name !== undefined) {
    names['#name'] = 'name';
    set.push('#name = :name');
    values[':name'] = change.name;
  }
  if (change.expiresAt === null) remove.push('expires_at');
  else if (change.expiresAt !== undefined) assign('expires_at', change.expiresAt);
  if (change.rateLimit === null) {
    remove.push('rate_limit', 'rate_window', 'rate_window_start', 'rate_count');
  } else if (change.rateLimit !== undefined) {
    assign('rate_limit', change.rateLimit.limit);
    assign('rate_window', change.rateLimit.windowSeconds);
    if (change.rateLimit.keepCount) conditions.push('rate_window = :rate_window');
    else remove.push('rate_window_start', 'rate_count');
  }
  if (change.quota === null) {
    remove.push('quota_limit', 'quota_period', 'quota_period_start', 'quota_used');
  } else if (change.quota !== undefined) {
    assign('quota_limit', change.quota.limit);
    assign('quota_period', change.quota.period);
    if (change.quota.keepUsage) conditions.push('quota_period = :quota_period');
    else remove.push('quota_period_start', 'quota_used');
  }
  if (change.budget === null) {
    remove.push('budget_id', 'budget_limit', 'budget_period', 'budget_hold');
  } else if (change.budget !== undefined) {
    const { ref, expectedBudgetId } = change.budget;
    if (expectedBudgetId === null) {
      conditions.push('attribute_not_exists(budget_id)');
    } else {
      conditions.push('budget_id = :expected_budget_id');
      values[':expected_budget_id'] = expectedBudgetId;
    }
    assign('budget_id', ref.budgetId);
    assign('budget_limit', ref.limit);
    assign('budget_period', ref.period);
    assign('budget_hold', ref.hold);
  }
  if (change.scopes === null) remove.push('scopes');
  else if (change.scopes !== undefined) assign('scopes', change.scopes);

  const sharding = change.sharding;
  if (sharding) {
    // The shards' move is computed from these: the write asserts them (a concurrent update
    // fails it and is computed again from what it finds).
    const { before } = sharding;
    names['#shards'] = 'shards';
    if (before.shards > 1) {
      conditions.push('#shards = :fromShards');
      values[':fromShards'] = before.shards;
    } else conditions.push('attribute_not_exists(#shards)');
    for (const [attribute, value] of [
      ['rate_limit', before.rateLimit],
      ['quota_limit', before.quotaLimit],
    ] as const) {
      if (value === undefined) conditions.push(`attribute_not_exists(${attribute})`);
      else {
        conditions.push(`${attribute} = :before_${attribute}`);
        values[`:before_${attribute}`] = value;
      }
    }
    // Counting moves to the shards at this very write; back to the key's item only once the
    // shards are gone (reshapeShards).
    const to = change.shards ?? before.shards;
    if (to > 1) {
      set.push('#shards = :toShards');
      values[':toShards'] = to;
    }
  }
  // Every change the shards copy is versioned, so two changes reach them in their order.
  const adds = sharding ? ['config_version :one'] : [];
  if (sharding) values[':one'] = 1;

  const update = [
    set.length > 0 ? `SET ${set.join(', ')}` : '',
    remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
    adds.length > 0 ? `ADD ${adds.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  try {
    const { Attributes } = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { key_hash: keyHash },
        ConditionExpression: conditions.join(' AND '),
        UpdateExpression: update,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    const after = Attributes as ApiKeyItem;
    if (sharding) await settleShards(client, tableName, after, change, sharding);
    return { ok: true, item: after };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item a failed condition returns.
      return { ok: false, current: error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined };
    }
    throw error;
  }
}
