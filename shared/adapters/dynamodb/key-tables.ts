import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** ApiKeys, with each key's reference in UserKeys, as the key domain's store. */
export interface DynamoKeyStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  usersTableName: string;
  userKeysTableName: string;
  /** Budgets: a budgeted key's budget item is written in the key's create transaction. */
  budgetsTableName: string;
}
