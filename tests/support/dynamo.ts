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

export async function createTestTables(label = 'test'): Promise<TestTables> {
  const endpoint = inject('dynamodbEndpoint');
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
      doc.destroy();
      raw.destroy();
    },
  };
}
