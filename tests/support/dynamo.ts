/** Per-test-file tables on the shared DynamoDB Local, with the repositories and service wired to them. */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createTables, localDynamoClient } from '../../local/dynamodb.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { type TableNames, tableNamesFor } from '../../shared/adapters/dynamodb/tables.js';

export interface TestTables {
  endpoint: string;
  names: TableNames;
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  drop(): Promise<void>;
}

/**
 * A document client's own destroy() does nothing (lib-dynamodb): the keep-alive sockets are
 * held by the request handler it shares with the DynamoDB client it wraps.
 */
export function destroyDocumentClient(doc: DynamoDBDocumentClient): void {
  doc.config.requestHandler.destroy?.();
}

/** `endpoint`: the shared DynamoDB Local unless a test puts something in front of it. */
export async function createTestTables(
  label = 'test',
  endpoint = inject('dynamodbEndpoint'),
): Promise<TestTables> {
  const names = tableNamesFor(`${label}-${randomUUID().slice(0, 8)}`);
  const raw = localDynamoClient(endpoint);
  await createTables(raw, names);
  const doc = createDocumentClient({ endpoint });
  return {
    endpoint,
    names,
    raw,
    doc,
    async drop() {
      for (const tableName of Object.values(names)) {
        await raw.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
      }
      destroyDocumentClient(doc);
      raw.destroy();
    },
  };
}
