/**
 * The one definition of keygate's DynamoDB tables. The CDK stack, the local runtime and
 * the tests all derive their table shapes from here (see `toCreateTableInput`).
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export type AttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  name: string;
  type: AttributeType;
}

export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** INCLUDE projection: attributes copied into the index besides the keys. */
  nonKeyAttributes: readonly string[];
}

export type TableId = 'ApiKeys' | 'Users' | 'UserKeys' | 'Idempotency' | 'Budgets';

export interface TableDefinition {
  /** Logical id, used in the stack and as the suffix of local table names. */
  id: TableId;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalSecondaryIndexes: readonly IndexDefinition[];
  /** Attribute DynamoDB TTL deletes on, if any. */
  timeToLiveAttribute?: string;
  /** Environment variable through which functions receive the table's name. */
  envVar: 'API_KEYS_TABLE' | 'USERS_TABLE' | 'USER_KEYS_TABLE' | 'IDEMPOTENCY_TABLE' | 'BUDGETS_TABLE';
}

export const USER_ID_INDEX = 'user_id-created_at-index';

/**
 * The GSI projects only stable attributes: `usage_count` and `last_used_at` change on
 * every request and are read from the base table, so the per-request UpdateItem never
 * writes the index (SPEC §5).
 */
export const API_KEYS_INDEX_ATTRIBUTES = ['key_id', 'status', 'expires_at'] as const;

export const apiKeysTable: TableDefinition = {
  id: 'ApiKeys',
  partitionKey: { name: 'key_hash', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: USER_ID_INDEX,
      partitionKey: { name: 'user_id', type: 'S' },
      sortKey: { name: 'created_at', type: 'S' },
      nonKeyAttributes: API_KEYS_INDEX_ATTRIBUTES,
    },
  ],
  envVar: 'API_KEYS_TABLE',
};

export const usersTable: TableDefinition = {
  id: 'Users',
  partitionKey: { name: 'user_id', type: 'S' },
  globalSecondaryIndexes: [],
  envVar: 'USERS_TABLE',
};

/**
 * One small item per key under its user (`user_id` + `key_id` → `key_hash`, `created_at`),
 * written in the key's create transaction. A user's keys are a strongly consistent Query
 * here and a key id is one GetItem, so get/revoke/rotate/suspend never depend on the
 * eventually consistent GSI, and no item grows with the number of keys
 * (docs/decisions/0006-key-store-at-scale.md).
 */
export const userKeysTable: TableDefinition = {
  id: 'UserKeys',
  partitionKey: { name: 'user_id', type: 'S' },
  sortKey: { name: 'key_id', type: 'S' },
  globalSecondaryIndexes: [],
  envVar: 'USER_KEYS_TABLE',
};

export const idempotencyTable: TableDefinition = {
  id: 'Idempotency',
  partitionKey: { name: 'id', type: 'S' },
  globalSecondaryIndexes: [],
  timeToLiveAttribute: 'expires_at_epoch',
  envVar: 'IDEMPOTENCY_TABLE',
};

/**
 * Spend budgets (SPEC §5b): one item per budget, named by the keys that draw on it (a key and
 * its rotated successor share one), so a rotation never resets nor doubles a budget.
 */
export const budgetsTable: TableDefinition = {
  id: 'Budgets',
  partitionKey: { name: 'budget_id', type: 'S' },
  globalSecondaryIndexes: [],
  envVar: 'BUDGETS_TABLE',
};

export const allTables: readonly TableDefinition[] = [
  apiKeysTable,
  usersTable,
  userKeysTable,
  idempotencyTable,
  budgetsTable,
];

export function tableById(id: TableId): TableDefinition {
  const definition = allTables.find((table) => table.id === id);
  if (!definition) throw new Error(`no table definition "${id}"`);
  return definition;
}

export interface TableNames {
  apiKeys: string;
  users: string;
  userKeys: string;
  idempotency: string;
  budgets: string;
}

/** Table names for a prefix (local runtime and tests use one prefix per stack/test run). */
export function tableNamesFor(prefix: string): TableNames {
  return {
    apiKeys: `${prefix}-${apiKeysTable.id}`,
    users: `${prefix}-${usersTable.id}`,
    userKeys: `${prefix}-${userKeysTable.id}`,
    idempotency: `${prefix}-${idempotencyTable.id}`,
    budgets: `${prefix}-${budgetsTable.id}`,
  };
}

export function tableNameOf(names: TableNames, table: TableDefinition): string {
  switch (table.id) {
    case 'ApiKeys':
      return names.apiKeys;
    case 'Users':
      return names.users;
    case 'UserKeys':
      return names.userKeys;
    case 'Idempotency':
      return names.idempotency;
    case 'Budgets':
      return names.budgets;
  }
}

/** On-demand CreateTable input for DynamoDB (Local), derived from the definition. */
export function toCreateTableInput(table: TableDefinition, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeType>();
  const add = (attribute: KeyAttribute | undefined): void => {
    if (attribute) attributes.set(attribute.name, attribute.type);
  };
  add(table.partitionKey);
  add(table.sortKey);
  for (const index of table.globalSecondaryIndexes) {
    add(index.partitionKey);
    add(index.sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    KeySchema: [
      { AttributeName: table.partitionKey.name, KeyType: 'HASH' },
      ...(table.sortKey ? [{ AttributeName: table.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    ...(table.globalSecondaryIndexes.length > 0 && {
      GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
        ],
        Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.nonKeyAttributes] },
      })),
    }),
  };
}
