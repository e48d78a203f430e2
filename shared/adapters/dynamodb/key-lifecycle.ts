/**
 * The writes that move a key through its life after creation, other than revocation
 * (key-revocation.ts): a named rotation's claim and its release, retirement by a rotation,
 * and the user's suspension stamp. Each is one conditional write on the key's item.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import { KeyStateError, type RotationClaim } from '../../domain/keys/ports.js';
import { copyToShards } from './key-shards.js';

/** Active, unexpired at `:now`, not yet retired by a rotation. */
const RETIRABLE =
  'attribute_exists(key_hash) AND #status = :active AND attribute_not_exists(rotated_at) AND (attribute_not_exists(expires_at) OR expires_at > :now)';
/** No rotation holds the key, or its claim has lapsed. */
const UNCLAIMED = '(attribute_not_exists(rotation_id) OR rotation_until <= :now)';
const CLEAR_CLAIM = 'REMOVE rotation_id, rotation_until, rotation_key_id';

/** One UpdateItem on the key; a failed condition becomes KeyStateError. */
async function conditionalUpdate(
  client: DynamoDBDocumentClient,
  tableName: string,
  input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
  returnValues: 'ALL_NEW' | 'ALL_OLD' = 'ALL_NEW',
): Promise<ApiKeyItem> {
  try {
    const { Attributes } = await client.send(
      new UpdateCommand({ ...input, TableName: tableName, ReturnValues: returnValues }),
    );
    return Attributes as ApiKeyItem;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      throw new KeyStateError('key is not in the required state', { cause: error });
    }
    throw error;
  }
}

/** Claims a retirable, unclaimed key for a named rotation; returns the item as it was. */
export function claimKeyForRotation(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  claim: RotationClaim,
  now: Date,
): Promise<ApiKeyItem> {
  return conditionalUpdate(
    client,
    tableName,
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

/** Clears the claim if this rotation holds it; no effect otherwise. */
export async function releaseKeyRotation(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  rotationId: string,
): Promise<void> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
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
export async function retireKey(
  client: DynamoDBDocumentClient,
  tableName: string,
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
  values[':one'] = 1;
  const retired = await conditionalUpdate(client, tableName, {
    Key: { key_hash: keyHash },
    ConditionExpression: condition,
    UpdateExpression: `${update} ADD config_version :one`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: values,
  });
  // Every shard of a sharded key expires (or is revoked) with it before the rotation answers.
  await copyToShards(client, tableName, retired);
  return retired;
}

/** One conditional write per key; the version fence keeps a superseded status change from undoing a newer one. */
export async function stampKeyUserStatus(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
  suspended: boolean,
  version: number,
): Promise<boolean> {
  try {
    const { Attributes } = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { key_hash: keyHash },
        ConditionExpression:
          'attribute_exists(key_hash) AND #status = :active AND (attribute_not_exists(user_status_version) OR user_status_version < :version)',
        UpdateExpression: suspended
          ? 'SET user_suspended = :yes, user_status_version = :version ADD config_version :one'
          : 'SET user_status_version = :version REMOVE user_suspended ADD config_version :one',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':active': 'active',
          ':version': version,
          ':one': 1,
          ...(suspended ? { ':yes': true } : {}),
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    // A sharded key is stamped on every shard before the stamp counts as done.
    await copyToShards(client, tableName, Attributes as ApiKeyItem);
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // Stamped already with this version (an earlier send whose answer was lost, or a pass
      // cut short): finish what that one may not have, the copy to every shard (versioned,
      // so repeating it is harmless).
      const current = error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined;
      if (current?.user_status_version === version) await copyToShards(client, tableName, current);
      return false;
    }
    throw error;
  }
}
