/**
 * The verify write of SPEC §5, alone in its module so the authorizer bundles nothing else
 * of the key store: exists, active, not expired, user not suspended → count, in ONE
 * conditional UpdateItem.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import type { KeyVerificationStore, VerifyWrite } from '../../domain/keys/ports.js';

/**
 * The one UpdateItem a request costs: exists, active, not expired, user not suspended →
 * `SET last_used_at ADD usage_count 1`. Exported so the bench measures exactly this call as
 * the authorizer's floor.
 */
export function verifyAndCountInput(tableName: string, keyHash: string, now: Date): UpdateCommandInput {
  const nowIso = now.toISOString();
  return {
    TableName: tableName,
    Key: { key_hash: keyHash },
    ConditionExpression:
      'attribute_exists(key_hash) AND #status = :active AND (attribute_not_exists(expires_at) OR expires_at > :now) AND attribute_not_exists(user_suspended)',
    UpdateExpression: 'SET last_used_at = :now ADD usage_count :one',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':active': 'active', ':now': nowIso, ':one': 1 },
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
): Promise<VerifyWrite> {
  try {
    const { Attributes } = await client.send(new UpdateCommand(verifyAndCountInput(tableName, keyHash, now)));
    return { ok: true, item: Attributes as ApiKeyItem };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item a failed condition returns.
      return { ok: false, current: error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined };
    }
    throw error;
  }
}

/** The ApiKeys table as the authorizer sees it: one conditional UpdateItem. */
export class DynamoKeyVerificationStore implements KeyVerificationStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  verifyAndCount(keyHash: string, now: Date): Promise<VerifyWrite> {
    return verifyAndCountWith(this.client, this.tableName, keyHash, now);
  }
}
