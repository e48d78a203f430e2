import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { BudgetItem } from '../../domain/budgets/model.js';
import type { ApiKeyItem, KeyRefItem } from '../../domain/keys/model.js';
import {
  type KeyChange,
  type KeyChangeWrite,
  KeyCollisionError,
  type KeyPage,
  type KeyRef,
  type KeyRefPage,
  KeyStateError,
  type KeyStore,
  type LimitPlan,
  type RotationClaim,
  UserNotActiveError,
  type VerifyWrite,
} from '../../domain/keys/ports.js';
import { retryOnConflict } from './conflicts.js';
import { revokeKeyItem } from './key-revocation.js';
import { verifyAndCountWith } from './key-verification-store.js';
import { USER_ID_INDEX } from './tables.js';

/** ApiKeys, with each key's reference in UserKeys, as the key domain's store. */
export interface DynamoKeyStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  usersTableName: string;
  userKeysTableName: string;
  /** Budgets: a budgeted key's budget item is written in the key's create transaction. */
  budgetsTableName: string;
}

/** Active, unexpired at `:now`, not yet retired by a rotation. */
const RETIRABLE =
  'attribute_exists(key_hash) AND #status = :active AND attribute_not_exists(rotated_at) AND (attribute_not_exists(expires_at) OR expires_at > :now)';
/** No rotation holds the key, or its claim has lapsed. */
const UNCLAIMED = '(attribute_not_exists(rotation_id) OR rotation_until <= :now)';
const CLEAR_CLAIM = 'REMOVE rotation_id, rotation_until, rotation_key_id';

const toRef = (item: Pick<KeyRefItem, 'key_id' | 'key_hash' | 'created_at'>): KeyRef => ({
  keyId: String(item.key_id),
  keyHash: String(item.key_hash),
  createdAt: String(item.created_at),
});

/** ApiKeys table adapter: every call translates condition failures into domain outcomes. */
export class DynamoKeyStore implements KeyStore {
  private readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  private readonly usersTableName: string;
  private readonly userKeysTableName: string;
  private readonly budgetsTableName: string;

  constructor(options: DynamoKeyStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.usersTableName = options.usersTableName;
    this.userKeysTableName = options.userKeysTableName;
    this.budgetsTableName = options.budgetsTableName;
  }

  /**
   * One transaction: the user exists and is active (the foreign key, a ConditionCheck that
   * writes nothing on the user), the key (never overwriting a hash), its fixed-size reference
   * under the user and, for a budgeted key, its new budget item (never overwriting one), so a
   * key never names a budget that was not written. No item grows with the number of keys.
   */
  async create(item: ApiKeyItem, budget?: BudgetItem): Promise<void> {
    const ref: KeyRefItem = {
      user_id: item.user_id,
      key_id: item.key_id,
      key_hash: item.key_hash,
      created_at: item.created_at,
    };
    try {
      await retryOnConflict(() =>
        this.client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.usersTableName,
                  Key: { user_id: item.user_id },
                  ConditionExpression: 'attribute_exists(user_id) AND #status = :active',
                  ExpressionAttributeNames: { '#status': 'status' },
                  ExpressionAttributeValues: { ':active': 'active' },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: item,
                  ConditionExpression: 'attribute_not_exists(key_hash)',
                },
              },
              {
                Put: {
                  TableName: this.userKeysTableName,
                  Item: ref,
                  ConditionExpression: 'attribute_not_exists(key_id)',
                },
              },
              ...(budget
                ? [
                    {
                      Put: {
                        TableName: this.budgetsTableName,
                        Item: budget,
                        ConditionExpression: 'attribute_not_exists(budget_id)',
                      },
                    },
                  ]
                : []),
            ],
          }),
        ),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const [userCheck, put, refPut, budgetPut] = error.CancellationReasons ?? [];
        if (userCheck?.Code === 'ConditionalCheckFailed') {
          throw new UserNotActiveError(userCheck.Item ? 'suspended' : 'missing');
        }
        if (
          put?.Code === 'ConditionalCheckFailed' ||
          refPut?.Code === 'ConditionalCheckFailed' ||
          budgetPut?.Code === 'ConditionalCheckFailed'
        ) {
          // Retried with a fresh key, key id and budget id.
          throw new KeyCollisionError('key hash, key id or budget id already exists', { cause: error });
        }
      }
      throw error;
    }
  }

  async findByHash(keyHash: string): Promise<ApiKeyItem | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { key_hash: keyHash }, ConsistentRead: true }),
    );
    return Item as ApiKeyItem | undefined;
  }

  /** Strongly consistent reads of the given keys, in the given order (missing ones left out). */
  async findByHashes(keyHashes: readonly string[]): Promise<ApiKeyItem[]> {
    return this.batchGet(keyHashes);
  }

  async findRef(userId: string, keyId: string): Promise<KeyRef | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.userKeysTableName,
        Key: { user_id: userId, key_id: keyId },
        ConsistentRead: true,
      }),
    );
    return Item ? toRef(Item as KeyRefItem) : undefined;
  }

  async listRefs(userId: string, limit: number, afterKeyId?: string): Promise<KeyRefPage> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.userKeysTableName,
        KeyConditionExpression: 'user_id = :user',
        ExpressionAttributeValues: { ':user': userId },
        ConsistentRead: true,
        Limit: limit,
        ...(afterKeyId ? { ExclusiveStartKey: { user_id: userId, key_id: afterKeyId } } : {}),
      }),
    );
    const refs = (page.Items ?? []).map((item) => toRef(item as KeyRefItem));
    const lastKeyId = page.LastEvaluatedKey?.key_id as string | undefined;
    return { refs, ...(lastKeyId ? { lastKeyId } : {}) };
  }

  verifyAndCount(keyHash: string, now: Date, plan: LimitPlan): Promise<VerifyWrite> {
    return verifyAndCountWith(this.client, this.tableName, keyHash, now, plan);
  }

  /** The user's keys via the GSI (newest first), then full items (with counters) from the base table. */
  async listByUser(userId: string, limit: number, after?: KeyRef): Promise<KeyPage> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: USER_ID_INDEX,
        KeyConditionExpression: 'user_id = :user',
        ExpressionAttributeValues: { ':user': userId },
        ScanIndexForward: false,
        Limit: limit,
        ...(after
          ? { ExclusiveStartKey: { user_id: userId, created_at: after.createdAt, key_hash: after.keyHash } }
          : {}),
      }),
    );
    const entries = page.Items ?? [];
    const items = await this.batchGet(entries.map((entry) => String(entry.key_hash)));
    const lastEntry = page.LastEvaluatedKey ? entries.at(-1) : undefined;
    return { items, ...(lastEntry ? { last: toRef(lastEntry as KeyRefItem) } : {}) };
  }

  /**
   * keys-admin's `update` in one conditional write: SET or REMOVE per field. A limit that
   * keeps its counter asserts the window length (period) it was counted in; a new window
   * length (period) or a cleared limit removes the counter. Refused: the item as it was.
   */
  async update(keyHash: string, userId: string, change: KeyChange): Promise<KeyChangeWrite> {
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

    const update = [
      set.length > 0 ? `SET ${set.join(', ')}` : '',
      remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { key_hash: keyHash },
          ConditionExpression: conditions.join(' AND '),
          UpdateExpression: update,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { ok: true, item: Attributes as ApiKeyItem };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // The document client does not unmarshall the item a failed condition returns.
        return { ok: false, current: error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined };
      }
      throw error;
    }
  }

  revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem> {
    return revokeKeyItem(this.client, this.tableName, keyHash, now, reason);
  }

  async claimForRotation(keyHash: string, claim: RotationClaim, now: Date): Promise<ApiKeyItem> {
    return this.conditionalUpdate(
      {
        Key: { key_hash: keyHash },
        ConditionExpression: `${RETIRABLE} AND ${UNCLAIMED}`,
        UpdateExpression: 'SET rotation_id = :rid, rotation_until = :until, rotation_key_id = :newKey',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':active': 'active',
          ':now': now.toISOString(),
          ':rid': claim.rotationId,
          ':until': claim.until.toISOString(),
          ':newKey': claim.newKeyId,
        },
      },
      'ALL_OLD',
    );
  }

  async releaseRotation(keyHash: string, rotationId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { key_hash: keyHash },
          ConditionExpression: 'rotation_id = :rid',
          UpdateExpression: CLEAR_CLAIM,
          ExpressionAttributeValues: { ':rid': rotationId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Retire a key for rotation, at most once: revoke now or expire at `expiresAt` (never later
   * than the key already expires: the caller passes the earlier one). Under a claim, only its
   * holder may; without, only an unclaimed retirable key. `rotated_at` makes it happen once.
   */
  async retire(
    keyHash: string,
    now: Date,
    retirement: { expiresAt?: Date; replacedBy: string; rotationId?: string },
  ): Promise<ApiKeyItem> {
    const values: Record<string, unknown> = {
      ':now': now.toISOString(),
      ':by': retirement.replacedBy,
      ':active': 'active',
    };
    let condition: string;
    if (retirement.rotationId) {
      values[':rid'] = retirement.rotationId;
      // An operator may revoke it meanwhile (fine: it stays revoked); it must not have expired.
      condition =
        'rotation_id = :rid AND attribute_not_exists(rotated_at) AND (#status <> :active OR attribute_not_exists(expires_at) OR expires_at > :now)';
    } else {
      condition = `${RETIRABLE} AND ${UNCLAIMED}`;
    }
    let update: string;
    if (retirement.expiresAt) {
      values[':expires'] = retirement.expiresAt.toISOString();
      update = `SET expires_at = :expires, rotated_at = :now, replaced_by = :by ${CLEAR_CLAIM}`;
    } else {
      values[':revoked'] = 'revoked';
      values[':reason'] = 'rotated';
      update = `SET #status = :revoked, revoked_at = if_not_exists(revoked_at, :now), revoked_reason = if_not_exists(revoked_reason, :reason), rotated_at = :now, replaced_by = :by ${CLEAR_CLAIM}`;
    }
    return this.conditionalUpdate({
      Key: { key_hash: keyHash },
      ConditionExpression: condition,
      UpdateExpression: update,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: values,
    });
  }

  /** One conditional write per key; the version fence keeps a superseded status change from undoing a newer one. */
  async stampUserStatus(keyHash: string, suspended: boolean, version: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { key_hash: keyHash },
          ConditionExpression:
            'attribute_exists(key_hash) AND #status = :active AND (attribute_not_exists(user_status_version) OR user_status_version < :version)',
          UpdateExpression: suspended
            ? 'SET user_suspended = :yes, user_status_version = :version'
            : 'SET user_status_version = :version REMOVE user_suspended',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':active': 'active',
            ':version': version,
            ...(suspended ? { ':yes': true } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async conditionalUpdate(
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
    returnValues: 'ALL_NEW' | 'ALL_OLD' = 'ALL_NEW',
  ): Promise<ApiKeyItem> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({ ...input, TableName: this.tableName, ReturnValues: returnValues }),
      );
      return Attributes as ApiKeyItem;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new KeyStateError('key is not in the required state', { cause: error });
      }
      throw error;
    }
  }

  private async batchGet(hashes: readonly string[]): Promise<ApiKeyItem[]> {
    const found = new Map<string, ApiKeyItem>();
    for (let offset = 0; offset < hashes.length; offset += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> | undefined =
        {
          [this.tableName]: {
            Keys: hashes.slice(offset, offset + 100).map((key_hash) => ({ key_hash })),
            ConsistentRead: true,
          },
        };
      while (request && Object.keys(request).length > 0) {
        const result = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of result.Responses?.[this.tableName] ?? []) {
          found.set(String(item.key_hash), item as ApiKeyItem);
        }
        request = result.UnprocessedKeys as typeof request;
      }
    }
    // Keep the caller's order (the index's newest-first for list).
    return hashes.flatMap((hash) => {
      const item = found.get(hash);
      return item ? [item] : [];
    });
  }
}
