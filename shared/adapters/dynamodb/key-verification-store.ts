/**
 * The verify write of SPEC §5, alone in its module so the authorizer bundles nothing else
 * of the key store: exists, active, not expired, user not suspended → count, in ONE
 * conditional UpdateItem.
 */
import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type ApiKeyItem, shardHashOf } from '../../domain/keys/model.js';
import type { KeyVerificationStore, LimitPlan, VerifyWrite } from '../../domain/keys/ports.js';

/** Exists, active, not expired, user not suspended: the part of the condition every write has. */
const KEY_USABLE =
  'attribute_exists(key_hash) AND #status = :active AND (attribute_not_exists(expires_at) OR expires_at > :now) AND attribute_not_exists(user_suspended)';

/**
 * The one UpdateItem a request costs (docs/decisions/0007-key-limits.md): the key is usable
 * and its limits are as `plan` expects and not spent → `SET last_used_at ADD usage_count 1`
 * plus, per limit, either a fresh window (`SET start, count = 1`, only if the stored window
 * is older) or the current one (`ADD count 1`, only while below the limit, compared
 * attribute to attribute). Exported so the bench measures exactly this call as the floor.
 */
export function verifyAndCountInput(
  tableName: string,
  keyHash: string,
  now: Date,
  plan: LimitPlan = {},
): UpdateCommandInput {
  if (plan.shard !== undefined) return shardVerifyInput(tableName, keyHash, now, plan, plan.shard);
  // A sharded key counts on its shards only: its own item refuses and names the shard count.
  const conditions = [KEY_USABLE, 'attribute_not_exists(shards)'];
  const sets = ['last_used_at = :now'];
  const adds = ['usage_count :one'];
  const values: Record<string, unknown> = { ':active': 'active', ':now': now.toISOString(), ':one': 1 };
  if (plan.rate) {
    values[':rateWindow'] = plan.rate.windowSeconds;
    values[':rateStart'] = plan.rate.windowStart;
    if (plan.rate.fresh) {
      conditions.push(
        'rate_window = :rateWindow AND (attribute_not_exists(rate_window_start) OR rate_window_start < :rateStart)',
      );
      sets.push('rate_window_start = :rateStart', 'rate_count = :one');
    } else {
      conditions.push(
        'rate_window = :rateWindow AND rate_window_start = :rateStart AND rate_count < rate_limit',
      );
      adds.push('rate_count :one');
    }
  } else {
    conditions.push('attribute_not_exists(rate_limit)');
  }
  if (plan.quota) {
    values[':quotaPeriod'] = plan.quota.period;
    values[':quotaStart'] = plan.quota.periodStart;
    if (plan.quota.fresh) {
      conditions.push(
        'quota_period = :quotaPeriod AND (attribute_not_exists(quota_period_start) OR quota_period_start < :quotaStart)',
      );
      sets.push('quota_period_start = :quotaStart', 'quota_used = :one');
    } else {
      conditions.push(
        'quota_period = :quotaPeriod AND quota_period_start = :quotaStart AND quota_used < quota_limit',
      );
      adds.push('quota_used :one');
    }
  } else {
    conditions.push('attribute_not_exists(quota_limit)');
  }
  return {
    TableName: tableName,
    Key: { key_hash: keyHash },
    ConditionExpression: conditions.join(' AND '),
    UpdateExpression: `SET ${sets.join(', ')} ADD ${adds.join(', ')}`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/**
 * The verify write on shard `shard` of a sharded key (docs/decisions/0012-sharded-keys.md):
 * the same checks, each limit against the shard's slice. A fresh window takes the slice
 * (`rate_free = rate_limit - 1`, only if the slice is at least 1); the current one takes one
 * from what is left (`rate_free >= 1`, then `ADD rate_free -1`), so the shards together
 * never admit more than the slices add up to.
 */
function shardVerifyInput(
  tableName: string,
  keyHash: string,
  now: Date,
  plan: LimitPlan,
  shard: number,
): UpdateCommandInput {
  const conditions = [KEY_USABLE, 'shard_of = :keyHash'];
  const sets = ['last_used_at = :now'];
  const adds = ['usage_count :one'];
  const values: Record<string, unknown> = {
    ':active': 'active',
    ':now': now.toISOString(),
    ':one': 1,
    ':keyHash': keyHash,
  };
  const limited = (
    prefix: 'rate' | 'quota',
    window: { fresh: boolean; length: number | string; start: number | string } | undefined,
    names: { length: string; start: string; count: string; limit: string; free: string },
  ) => {
    if (!window) {
      conditions.push(`attribute_not_exists(${names.limit})`);
      return;
    }
    values[`:${prefix}Length`] = window.length;
    values[`:${prefix}Start`] = window.start;
    if (window.fresh) {
      conditions.push(
        `${names.length} = :${prefix}Length AND (attribute_not_exists(${names.start}) OR ${names.start} < :${prefix}Start) AND ${names.limit} >= :one`,
      );
      sets.push(
        `${names.start} = :${prefix}Start`,
        `${names.count} = :one`,
        `${names.free} = ${names.limit} - :one`,
      );
    } else {
      conditions.push(
        `${names.length} = :${prefix}Length AND ${names.start} = :${prefix}Start AND ${names.free} >= :one`,
      );
      values[':minusOne'] = -1;
      adds.push(`${names.count} :one`, `${names.free} :minusOne`);
    }
  };
  limited(
    'rate',
    plan.rate
      ? { fresh: plan.rate.fresh, length: plan.rate.windowSeconds, start: plan.rate.windowStart }
      : undefined,
    {
      length: 'rate_window',
      start: 'rate_window_start',
      count: 'rate_count',
      limit: 'rate_limit',
      free: 'rate_free',
    },
  );
  limited(
    'quota',
    plan.quota
      ? { fresh: plan.quota.fresh, length: plan.quota.period, start: plan.quota.periodStart }
      : undefined,
    {
      length: 'quota_period',
      start: 'quota_period_start',
      count: 'quota_used',
      limit: 'quota_limit',
      free: 'quota_free',
    },
  );
  return {
    TableName: tableName,
    Key: { key_hash: shardHashOf(keyHash, shard) },
    ConditionExpression: conditions.join(' AND '),
    UpdateExpression: `SET ${sets.join(', ')} ADD ${adds.join(', ')}`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/**
 * The verify write alone (the authorizer's only call): a refused write returns the item as
 * it was (`ReturnValuesOnConditionCheckFailure`), from which the domain reads the reason.
 */
export async function verifyAndCountWith(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  now: Date,
  plan: LimitPlan,
  signal?: AbortSignal,
): Promise<VerifyWrite> {
  try {
    const { Attributes } = await client.send(
      new UpdateCommand(verifyAndCountInput(tableName, keyHash, now, plan)),
      signal ? { abortSignal: signal } : {},
    );
    return { ok: true, item: Attributes as ApiKeyItem };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item a failed condition returns.
      return { ok: false, current: error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined };
    }
    // A shard DynamoDB throttled (after the SDK's retry): the verifier sends the call to another.
    if (plan.shard !== undefined && error instanceof ProvisionedThroughputExceededException) {
      return { ok: false, throttled: true };
    }
    throw error;
  }
}

/**
 * A sharded key's shard items in one strongly consistent BatchGetItem (≤ 64 keys, within its
 * 100). Keys DynamoDB leaves unprocessed are left out: the verifier finds those out by writing.
 */
export async function readShardsWith(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  shards: number,
  signal?: AbortSignal,
): Promise<ApiKeyItem[]> {
  const keys = Array.from({ length: shards }, (_, index) => ({ key_hash: shardHashOf(keyHash, index) }));
  const answer = await client.send(
    new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
    signal ? { abortSignal: signal } : {},
  );
  return (answer.Responses?.[tableName] ?? []) as ApiKeyItem[];
}

/** One key item by its hash, strongly consistent. */
export async function readKeyWith(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  signal?: AbortSignal,
): Promise<ApiKeyItem | undefined> {
  const answer = await client.send(
    new GetCommand({ TableName: tableName, Key: { key_hash: keyHash }, ConsistentRead: true }),
    signal ? { abortSignal: signal } : {},
  );
  return answer.Item as ApiKeyItem | undefined;
}

/** The ApiKeys table as the authorizer sees it: the verify write, and a sharded key's shards read once. */
export class DynamoKeyVerificationStore implements KeyVerificationStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  verifyAndCount(keyHash: string, now: Date, plan: LimitPlan, signal?: AbortSignal): Promise<VerifyWrite> {
    return verifyAndCountWith(this.client, this.tableName, keyHash, now, plan, signal);
  }

  readShards(keyHash: string, shards: number, signal?: AbortSignal): Promise<ApiKeyItem[]> {
    return readShardsWith(this.client, this.tableName, keyHash, shards, signal);
  }

  readKey(keyHash: string, signal?: AbortSignal): Promise<ApiKeyItem | undefined> {
    return readKeyWith(this.client, this.tableName, keyHash, signal);
  }
}
