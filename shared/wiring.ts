/**
 * Builds the domain services from a function's configuration. Functions call these once
 * at cold start; tests and the local runtime call them with their own clients.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LogSink } from './domain/keys/service.js';
import { createKeyService } from './domain/keys/service.js';
import { ApiKeyRepository } from './adapters/dynamodb/api-key-store.js';
import { UserRepository } from './adapters/dynamodb/user-store.js';

export interface KeyStoreTables {
  apiKeys: string;
  users: string;
}

export function createKeyServiceFor(client: DynamoDBDocumentClient, tables: KeyStoreTables, logger: LogSink) {
  return createKeyService({
    keys: new ApiKeyRepository({ client, tableName: tables.apiKeys, usersTableName: tables.users }),
    users: new UserRepository(client, tables.users),
    logger,
  });
}
