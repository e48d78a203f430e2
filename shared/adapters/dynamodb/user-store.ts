import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { UserItem, UserStatus } from '../../domain/keys/model.js';
import { UserExistsError, UserNotActiveError, type UserStore } from '../../domain/keys/ports.js';
import { retryOnConflict } from './conflicts.js';

/** Users table adapter: condition failures become the domain's store errors. */
export class DynamoUserStore implements UserStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async create(item: UserItem): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(user_id)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new UserExistsError('user already exists');
      throw error;
    }
  }

  async find(userId: string): Promise<UserItem | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { user_id: userId }, ConsistentRead: true }),
    );
    return Item as UserItem | undefined;
  }

  /**
   * One conditional write: only a real change bumps `status_version` (which fences older
   * key stamps) and restarts the stamping from the first key. A create transaction that
   * checks the user at the same instant conflicts; that is retried.
   */
  async changeStatus(
    userId: string,
    status: UserStatus,
    now: Date,
  ): Promise<{ user: UserItem; changed: boolean }> {
    try {
      const { Attributes } = await retryOnConflict(() =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { user_id: userId },
            ConditionExpression: 'attribute_exists(user_id) AND #status <> :status',
            UpdateExpression:
              status === 'suspended'
                ? 'SET #status = :status, suspended_at = :now, status_version = if_not_exists(status_version, :zero) + :one REMOVE keys_stamped_through'
                : 'SET #status = :status, status_version = if_not_exists(status_version, :zero) + :one REMOVE suspended_at, keys_stamped_through',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':status': status,
              ':zero': 0,
              ':one': 1,
              ...(status === 'suspended' ? { ':now': now.toISOString() } : {}),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { user: Attributes as UserItem, changed: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        if (!error.Item) throw new UserNotActiveError('missing');
        return { user: unmarshall(error.Item) as UserItem, changed: false };
      }
      throw error;
    }
  }

  async recordStamping(
    userId: string,
    version: number,
    progress: { through: string } | 'done',
  ): Promise<boolean> {
    try {
      await retryOnConflict(() =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { user_id: userId },
            ConditionExpression: 'status_version = :version',
            UpdateExpression:
              progress === 'done'
                ? 'SET keys_stamped_version = :version REMOVE keys_stamped_through'
                : 'SET keys_stamped_through = :through',
            ExpressionAttributeValues: {
              ':version': version,
              ...(progress === 'done' ? {} : { ':through': progress.through }),
            },
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
