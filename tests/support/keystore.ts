/** The key store (service + repositories) wired to test tables, with an injectable clock and random source. */
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoKeyStore } from '../../shared/adapters/dynamodb/api-key-store.js';
import { DynamoBudgetStore } from '../../shared/adapters/dynamodb/budget-store.js';
import { DynamoUserStore } from '../../shared/adapters/dynamodb/user-store.js';
import type { RandomSource } from '../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';
import { createKeyService, type KeyService } from '../../shared/domain/keys/service.js';
import type { LogSink } from '../../shared/domain/ports.js';
import type { TestTables } from './dynamo.js';
import { silentLogger } from './logs.js';

export interface TestClock {
  (): Date;
  set(instant: Date | string): void;
  advance(ms: number): void;
}

/** A clock that stands still until the test moves it. */
export function testClock(start: Date | string = new Date()): TestClock {
  let now = new Date(start).getTime();
  const clock = (() => new Date(now)) as TestClock;
  clock.set = (instant) => {
    now = new Date(instant).getTime();
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

export interface TestKeyStore {
  service: KeyService;
  keys: DynamoKeyStore;
  users: DynamoUserStore;
  budgets: DynamoBudgetStore;
}

export function keyStoreFor(
  tables: Pick<TestTables, 'doc' | 'names'>,
  options: {
    clock?: () => Date;
    random?: RandomSource;
    maxCreateAttempts?: number;
    logger?: LogSink;
    writeConcurrency?: number;
    stampPageSize?: number;
    defaultBudgetHoldUsd?: number;
  } = {},
): TestKeyStore {
  const keys = new DynamoKeyStore({
    client: tables.doc,
    tableName: tables.names.apiKeys,
    usersTableName: tables.names.users,
    userKeysTableName: tables.names.userKeys,
    budgetsTableName: tables.names.budgets,
  });
  const users = new DynamoUserStore(tables.doc, tables.names.users);
  const budgets = new DynamoBudgetStore(tables.doc, tables.names.budgets);
  const service = createKeyService({
    keys,
    users,
    budgets,
    environment: 'test',
    logger: options.logger ?? silentLogger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.maxCreateAttempts ? { maxCreateAttempts: options.maxCreateAttempts } : {}),
    ...(options.writeConcurrency ? { writeConcurrency: options.writeConcurrency } : {}),
    ...(options.stampPageSize ? { stampPageSize: options.stampPageSize } : {}),
    ...(options.defaultBudgetHoldUsd ? { defaultBudgetHoldUsd: options.defaultBudgetHoldUsd } : {}),
  });
  return { service, keys, users, budgets };
}

/** Every item of the ApiKeys table (a full scan: proof of what was, or was not, written). */
export async function scanApiKeys(tables: Pick<TestTables, 'doc' | 'names'>): Promise<ApiKeyItem[]> {
  const items: ApiKeyItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await tables.doc.send(
      new ScanCommand({ TableName: tables.names.apiKeys, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...((page.Items ?? []) as ApiKeyItem[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Unwraps an `{ok:true}` result or fails the test with the refusal. */
export function expectOk<T extends { ok: boolean }>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result as Extract<T, { ok: true }>;
}

let userCounter = 0;
/** A user id unique within the test file. */
export function uniqueUserId(label = 'user'): string {
  userCounter += 1;
  return `${label}-${userCounter}-${Date.now().toString(36)}`;
}

/** The key service on the DynamoDB adapters, as keys-admin wires it. */
export function createKeyServiceFor(
  client: DynamoDBDocumentClient,
  tables: { apiKeys: string; users: string; userKeys: string; budgets: string },
  logger: LogSink,
): KeyService {
  return createKeyService({
    keys: new DynamoKeyStore({
      client,
      tableName: tables.apiKeys,
      usersTableName: tables.users,
      userKeysTableName: tables.userKeys,
      budgetsTableName: tables.budgets,
    }),
    users: new DynamoUserStore(client, tables.users),
    budgets: new DynamoBudgetStore(client, tables.budgets),
    environment: 'test',
    logger,
  });
}
