/** keys-admin's `update` of a key's settings, as one conditional write. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import type { KeyChange, KeyChangeWrite } from '../../domain/keys/ports.js';

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

  const update = [
    set.length > 0 ? `SET ${set.join(', ')}` : '',
    remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
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
    return { ok: true, item: Attributes as ApiKeyItem };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      // The document client does not unmarshall the item a failed condition returns.
      return { ok: false, current: error.Item ? (unmarshall(error.Item) as ApiKeyItem) : undefined };
    }
    throw error;
  }
}
