/**
 * The Idempotency table as a test inspects it: which records exist for one caller's
 * Idempotency-Key, read with a consistent scan (proof of what was, or was not, stored).
 */
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import {
  type IdempotencyItem,
  idempotencyRecordId,
} from '../../shared/adapters/dynamodb/idempotency-store.js';

export { idempotencyRecordId };

export type IdempotencyRecord = IdempotencyItem;

async function scanAll(
  doc: DynamoDBDocumentClient,
  tableName: string,
  filter?: { id: string },
): Promise<IdempotencyRecord[]> {
  const items: IdempotencyRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: tableName,
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
        ...(filter ? { FilterExpression: 'id = :id', ExpressionAttributeValues: { ':id': filter.id } } : {}),
      }),
    );
    items.push(...((page.Items ?? []) as IdempotencyRecord[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Every record stored for this user's Idempotency-Key (0 or 1 when nothing is written twice). */
export function idempotencyRecordsFor(
  doc: DynamoDBDocumentClient,
  tableName: string,
  userId: string,
  idempotencyKey: string,
): Promise<IdempotencyRecord[]> {
  return scanAll(doc, tableName, { id: idempotencyRecordId(userId, idempotencyKey) });
}

/** Every record of the table. */
export function allIdempotencyRecords(
  doc: DynamoDBDocumentClient,
  tableName: string,
): Promise<IdempotencyRecord[]> {
  return scanAll(doc, tableName);
}
