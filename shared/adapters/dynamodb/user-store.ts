import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { UserItem, UserStatus } from '../../domain/keys/model.js';
import { UserExistsError, UserNotActiveError, type UserStore } from '../../domain/keys/ports.js';

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

  async setStatus(userId: string, status: UserStatus, now: Date): Promise<UserItem> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { user_id: userId },
          ConditionExpression: 'attribute_exists(user_id)',
          UpdateExpression:
            status === 'suspended'
              ? 'SET #status = :status, suspended_at = :now'
              : 'SET #status = :status REMOVE suspended_at',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': status,
            ...(status === 'suspended' ? { ':now': now.toISOString() } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as UserItem;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new UserNotActiveError('missing');
      throw error;
    }
  }
}
