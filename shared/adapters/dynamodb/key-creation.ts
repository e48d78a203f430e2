/** A key's create transaction: the user check, the key, its reference and its budget, all or nothing. */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { BudgetItem } from '../../domain/budgets/model.js';
import type { ApiKeyItem, KeyRefItem } from '../../domain/keys/model.js';
import { KeyCollisionError, UserNotActiveError } from '../../domain/keys/ports.js';
import { retryOnConflict } from './conflicts.js';
import type { DynamoKeyStoreOptions } from './key-tables.js';

/**
 * One transaction: the user exists and is active (the foreign key, a ConditionCheck that
 * writes nothing on the user), the key (never overwriting a hash), its fixed-size reference
 * under the user and, for a budgeted key, its new budget item (never overwriting one), so a
 * key never names a budget that was not written, and its shard items for a sharded key. No
 * item grows with the number of keys.
 */
export async function createKey(
  tables: DynamoKeyStoreOptions,
  item: ApiKeyItem,
  budget?: BudgetItem,
  shards: readonly ApiKeyItem[] = [],
): Promise<void> {
  const ref: KeyRefItem = {
    user_id: item.user_id,
    key_id: item.key_id,
    key_hash: item.key_hash,
    created_at: item.created_at,
  };
  try {
    await retryOnConflict(() =>
      tables.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: tables.usersTableName,
                Key: { user_id: item.user_id },
                ConditionExpression: 'attribute_exists(user_id) AND #status = :active',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':active': 'active' },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Put: {
                TableName: tables.tableName,
                Item: item,
                ConditionExpression: 'attribute_not_exists(key_hash)',
              },
            },
            {
              Put: {
                TableName: tables.userKeysTableName,
                Item: ref,
                ConditionExpression: 'attribute_not_exists(key_id)',
              },
            },
            ...(budget
              ? [
                  {
                    Put: {
                      TableName: tables.budgetsTableName,
                      Item: budget,
                      ConditionExpression: 'attribute_not_exists(budget_id)',
                    },
                  },
                ]
              : []),
            // A sharded key's shards (≤ 64: the transaction stays within its 100 items).
            ...shards.map((shard) => ({
              Put: {
                TableName: tables.tableName,
                Item: shard,
                ConditionExpression: 'attribute_not_exists(key_hash)',
              },
            })),
          ],
        }),
      ),
    );
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      const [userCheck, ...puts] = error.CancellationReasons ?? [];
      if (userCheck?.Code === 'ConditionalCheckFailed') {
        throw new UserNotActiveError(userCheck.Item ? 'suspended' : 'missing');
      }
      // The key, its reference, its budget or one of its shards exists already.
      if (puts.some((reason) => reason?.Code === 'ConditionalCheckFailed')) {
        // Retried with a fresh key, key id and budget id.
        throw new KeyCollisionError('key hash, key id or budget id already exists', { cause: error });
      }
    }
    throw error;
  }
}
