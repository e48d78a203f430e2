/**
 * Revoking a key is one conditional write on its item (SPEC §5): active → revoked, with when
 * and why. keys-admin's `revoke` (through DynamoKeyStore) and the secret-scanning function
 * (leaked keys, SPEC §3c) both revoke through it; the latter needs nothing else from the key
 * store, so it gets this alone (and its role only UpdateItem on ApiKeys).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import { KeyStateError, type KeyStore } from '../../domain/keys/ports.js';
import { copyToShards } from './key-shards.js';

/**
 * Active → revoked. A refused write throws KeyStateError carrying the item as the write found
 * it (`current`), or none when there is no such key: the caller learns which from this one call.
 */
export async function revokeKeyItem(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  now: Date,
  reason: string,
): Promise<ApiKeyItem> {
  try {
    const { Attributes } = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { key_hash: keyHash },
        ConditionExpression: 'attribute_exists(key_hash) AND #status = :active',
        UpdateExpression:
          'SET #status = :revoked, revoked_at = :now, revoked_reason = :reason ADD config_version :one',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':active': 'active',
          ':revoked': 'revoked',
          ':now': now.toISOString(),
          ':reason': reason,
          ':one': 1,
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    const revoked = Attributes as ApiKeyItem;
    // A sharded key is refused on every shard before the revocation answers.
    await copyToShards(client, tableName, revoked);
    return revoked;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item a failed condition returns.
      const current = error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined;
      // Already revoked: a revocation cut short before all its shards had it is finished here.
      if (current?.status === 'revoked') await copyToShards(client, tableName, current);
      throw new KeyStateError('key is not active', { cause: error, current });
    }
    throw error;
  }
}

/** The revocation port alone, for a function that may do nothing else with keys. */
export class DynamoKeyRevocation implements Pick<KeyStore, 'revoke'> {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem> {
    return revokeKeyItem(this.client, this.tableName, keyHash, now, reason);
  }
}
