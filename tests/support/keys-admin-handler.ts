/** The deployed keys-admin handler module, configured for a test's own tables on DynamoDB Local. */
import type { Context } from 'aws-lambda';
import type { TestTables } from './dynamo.js';

export type KeysAdminHandler = (event: unknown, context: Context) => Promise<unknown>;

/** Sets the environment the stack gives keys-admin, then loads its handler (module init reads it). */
export async function loadKeysAdminHandler(tables: TestTables): Promise<KeysAdminHandler> {
  process.env.API_KEYS_TABLE = tables.names.apiKeys;
  process.env.KEY_ENVIRONMENT = 'test';
  process.env.USERS_TABLE = tables.names.users;
  process.env.USER_KEYS_TABLE = tables.names.userKeys;
  process.env.BUDGETS_TABLE = tables.names.budgets;
  process.env.DYNAMODB_ENDPOINT = tables.endpoint;
  const { handler } = await import('../../functions/keys-admin/handler.js');
  return handler as KeysAdminHandler;
}
