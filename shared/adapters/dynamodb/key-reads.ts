/** Strongly consistent reads of keys and of users' key references (the index query aside). */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ApiKeyItem, KeyRefItem } from '../../domain/keys/model.js';
import type { KeyPage, KeyRef, KeyRefPage } from '../../domain/keys/ports.js';
import type { DynamoKeyStoreOptions } from './key-tables.js';
import { USER_ID_INDEX } from './tables.js';

const toRef = (item: Pick<KeyRefItem, 'key_id' | 'key_hash' | 'created_at'>): KeyRef => ({
  keyId: String(item.key_id),
  keyHash: String(item.key_hash),
  createdAt: String(item.created_at),
});

export async function findKeyByHash(
  client: DynamoDBDocumentClient,
  tableName: string,
  keyHash: string,
): Promise<ApiKeyItem | undefined> {
  const { Item } = await client.send(
    new GetCommand({ TableName: tableName, Key: { key_hash: keyHash }, ConsistentRead: true }),
  );
  return Item as ApiKeyItem | undefined;
}

/** Strongly consistent reads of the given keys, in the given order (missing ones left out). */
export async function findKeysByHashes(
  client: DynamoDBDocumentClient,
  tableName: string,
  hashes: readonly string[],
): Promise<ApiKeyItem[]> {
  const found = new Map<string, ApiKeyItem>();
  for (let offset = 0; offset < hashes.length; offset += 100) {
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> | undefined = {
      [tableName]: {
        Keys: hashes.slice(offset, offset + 100).map((key_hash) => ({ key_hash })),
        ConsistentRead: true,
      },
    };
    while (request && Object.keys(request).length > 0) {
      const result = await client.send(new BatchGetCommand({ RequestItems: request }));
      for (const item of result.Responses?.[tableName] ?? []) {
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

export async function findKeyRef(
  tables: DynamoKeyStoreOptions,
  userId: string,
  keyId: string,
): Promise<KeyRef | undefined> {
  const { Item } = await tables.client.send(
    new GetCommand({
      TableName: tables.userKeysTableName,
      Key: { user_id: userId, key_id: keyId },
      ConsistentRead: true,
    }),
  );
  return Item ? toRef(Item as KeyRefItem) : undefined;
}

export async function listKeyRefs(
  tables: DynamoKeyStoreOptions,
  userId: string,
  limit: number,
  afterKeyId?: string,
): Promise<KeyRefPage> {
  const page = await tables.client.send(
    new QueryCommand({
      TableName: tables.userKeysTableName,
      KeyConditionExpression: 'user_id = :user',
      ExpressionAttributeValues: { ':user': userId },
      ConsistentRead: true,
      Limit: limit,
      ...(afterKeyId ? { ExclusiveStartKey: { user_id: userId, key_id: afterKeyId } } : {}),
    }),
  );
  const refs = (page.Items ?? []).map((item) => toRef(item as KeyRefItem));
  const lastKeyId = page.LastEvaluatedKey?.key_id as string | undefined;
  return { refs, ...(lastKeyId ? { lastKeyId } : {}) };
}

/** The user's keys via the GSI (newest first), then full items (with counters) from the base table. */
export async function listKeysByUser(
  client: DynamoDBDocumentClient,
  tableName: string,
  userId: string,
  limit: number,
  after?: KeyRef,
): Promise<KeyPage> {
  const page = await client.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: USER_ID_INDEX,
      KeyConditionExpression: 'user_id = :user',
      ExpressionAttributeValues: { ':user': userId },
      ScanIndexForward: false,
      Limit: limit,
      ...(after
        ? { ExclusiveStartKey: { user_id: userId, created_at: after.createdAt, key_hash: after.keyHash } }
        : {}),
    }),
  );
  const entries = page.Items ?? [];
  const items = await findKeysByHashes(
    client,
    tableName,
    entries.map((entry) => String(entry.key_hash)),
  );
  const lastEntry = page.LastEvaluatedKey ? entries.at(-1) : undefined;
  return { items, ...(lastEntry ? { last: toRef(lastEntry as KeyRefItem) } : {}) };
}
