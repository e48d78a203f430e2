import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type ApiKeyItem, keyRefAttribute } from '../../domain/keys/model.js';
import {
  KeyCollisionError,
  type KeyPage,
  KeyStateError,
  type KeyStore,
  UserNotActiveError,
  type VerifyWrite,
} from '../../domain/keys/ports.js';
import { verifyAndCountWith } from './key-verification-store.js';
import { USER_ID_INDEX } from './tables.js';

/** ApiKeys (and the key references on Users) as the key domain's store. */
export interface DynamoKeyStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  usersTableName: string;
}

/** ApiKeys table adapter: every call translates condition failures into domain outcomes. */
export class DynamoKeyStore implements KeyStore {
  private readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  private readonly usersTableName: string;

  constructor(options: DynamoKeyStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.usersTableName = options.usersTableName;
  }

  /**
   * One transaction: the user exists and is active (the foreign key, checked by a conditional
   * Update that also records `key#<key_id>` → hash on the user) + a Put that never overwrites.
   * The reference makes lookups by key id and suspension strongly consistent (no GSI lag).
   */
  async create(item: ApiKeyItem): Promise<void> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.usersTableName,
                Key: { user_id: item.user_id },
                ConditionExpression: 'attribute_exists(user_id) AND #status = :active',
                UpdateExpression: 'SET #keyRef = :keyHash',
                ExpressionAttributeNames: { '#status': 'status', '#keyRef': keyRefAttribute(item.key_id) },
                ExpressionAttributeValues: { ':active': 'active', ':keyHash': item.key_hash },
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
          ],
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const [userCheck, put] = error.CancellationReasons ?? [];
        if (userCheck?.Code === 'ConditionalCheckFailed') {
          throw new UserNotActiveError(userCheck.Item ? 'suspended' : 'missing');
        }
        if (put?.Code === 'ConditionalCheckFailed') {
          throw new KeyCollisionError('key hash already exists', { cause: error });
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

  verifyAndCount(keyHash: string, now: Date): Promise<VerifyWrite> {
    return verifyAndCountWith(this.client, this.tableName, keyHash, now);
  }

  /** The user's keys via the GSI (newest first), then full items (with counters) from the base table. */
  async listByUser(userId: string, limit: number, cursor?: Record<string, string>): Promise<KeyPage> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: USER_ID_INDEX,
        KeyConditionExpression: 'user_id = :user',
        ExpressionAttributeValues: { ':user': userId },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    const hashes = (page.Items ?? []).map((entry) => String(entry.key_hash));
    const items = await this.batchGet(hashes);
    // The index's LastEvaluatedKey: table key + index keys, all strings.
    const next = page.LastEvaluatedKey as Record<string, string> | undefined;
    return { items, ...(next ? { cursor: next } : {}) };
  }

  async revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem> {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: { key_hash: keyHash },
      ConditionExpression: 'attribute_exists(key_hash) AND #status = :active',
      UpdateExpression: 'SET #status = :revoked, revoked_at = :now, revoked_reason = :reason',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':active': 'active',
        ':revoked': 'revoked',
        ':now': now.toISOString(),
        ':reason': reason,
      },
    });
  }

  /**
   * Retire a key for rotation, at most once: revoke now (grace 0) or expire at `expiresAt`
   * (the caller never passes a later expiry than the key already has).
   * The `rotated_at` guard makes concurrent rotations of one key race to a single winner.
   */
  async retire(keyHash: string, now: Date, expiresAt: Date | undefined): Promise<ApiKeyItem> {
    const nowIso = now.toISOString();
    const common = {
      TableName: this.tableName,
      Key: { key_hash: keyHash },
      ConditionExpression:
        'attribute_exists(key_hash) AND #status = :active AND attribute_not_exists(rotated_at) AND (attribute_not_exists(expires_at) OR expires_at > :now)',
      ExpressionAttributeNames: { '#status': 'status' },
    };
    if (!expiresAt) {
      return this.conditionalUpdate({
        ...common,
        UpdateExpression:
          'SET #status = :revoked, revoked_at = :now, revoked_reason = :reason, rotated_at = :now',
        ExpressionAttributeValues: {
          ':active': 'active',
          ':revoked': 'revoked',
          ':now': nowIso,
          ':reason': 'rotated',
        },
      });
    }
    return this.conditionalUpdate({
      ...common,
      UpdateExpression: 'SET expires_at = :expires, rotated_at = :now',
      ExpressionAttributeValues: { ':active': 'active', ':now': nowIso, ':expires': expiresAt.toISOString() },
    });
  }

  /** Stamp every key of a suspended user so the single verify UpdateItem refuses them. */
  async setUserSuspended(keyHashes: readonly string[], suspended: boolean): Promise<void> {
    for (const keyHash of keyHashes) {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { key_hash: keyHash },
          ConditionExpression: 'attribute_exists(key_hash)',
          UpdateExpression: suspended ? 'SET user_suspended = :yes' : 'REMOVE user_suspended',
          ...(suspended ? { ExpressionAttributeValues: { ':yes': true } } : {}),
        }),
      );
    }
  }

  private async conditionalUpdate(
    input: ConstructorParameters<typeof UpdateCommand>[0],
  ): Promise<ApiKeyItem> {
    try {
      const { Attributes } = await this.client.send(new UpdateCommand({ ...input, ReturnValues: 'ALL_NEW' }));
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
