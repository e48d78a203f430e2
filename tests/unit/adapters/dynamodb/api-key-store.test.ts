import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../../../shared/adapters/aws-clients.js';
import { DynamoKeyStore } from '../../../../shared/adapters/dynamodb/api-key-store.js';
import { micros } from '../../../../shared/domain/budgets/money.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import {
  KeyCollisionError,
  StoreConflictError,
  UserNotActiveError,
} from '../../../../shared/domain/keys/ports.js';
import { refusalReasonOf } from '../../../../shared/domain/keys/verify.js';
import { budgetItemOf } from '../../../support/budgets.js';

const doc = createDocumentClient({ endpoint: 'http://127.0.0.1:1' });
const dynamo = mockClient(doc);
afterEach(() => dynamo.reset());

const repository = new DynamoKeyStore({
  client: doc,
  tableName: 'keys',
  usersTableName: 'users',
  userKeysTableName: 'user-keys',
  budgetsTableName: 'budgets',
});
const NOW = new Date('2030-01-01T00:00:00.000Z');

/** A failed condition as DynamoDB reports it, with the old item in wire format (ReturnValuesOnConditionCheckFailure). */
const conditionFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    Item: item as never,
  });

describe('verifyAndCount', () => {
  it('is one conditional UpdateItem that counts the use and returns the item', async () => {
    const item = { key_hash: 'h', user_id: 'u', key_id: 'key_1', project_id: 'p', usage_count: 1 };
    dynamo.on(UpdateCommand).resolves({ Attributes: item });

    const outcome = await repository.verifyAndCount('h', NOW, {});

    expect(outcome).toEqual({ ok: true, item });
    expect(dynamo.calls()).toHaveLength(1);
    const input = dynamo.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'keys',
      Key: { key_hash: 'h' },
      UpdateExpression: 'SET last_used_at = :now ADD usage_count :one',
      ExpressionAttributeValues: { ':active': 'active', ':now': NOW.toISOString(), ':one': 1 },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(input?.ConditionExpression).toContain('attribute_exists(key_hash)');
    expect(input?.ConditionExpression).toContain('expires_at > :now');
    expect(input?.ConditionExpression).toContain('attribute_not_exists(user_suspended)');
    // A key this container knows no limits of is asserted to have none.
    expect(input?.ConditionExpression).toContain('attribute_not_exists(rate_limit)');
    expect(input?.ConditionExpression).toContain('attribute_not_exists(quota_limit)');
  });

  it.each([
    ['no old item', undefined, 'unknown'],
    ['a revoked key', { status: { S: 'revoked' } }, 'revoked'],
    [
      'a revoked key of a suspended user',
      { status: { S: 'revoked' }, user_suspended: { BOOL: true } },
      'revoked',
    ],
    [
      'an active key of a suspended user',
      { status: { S: 'active' }, user_suspended: { BOOL: true } },
      'suspended',
    ],
    [
      'an active key past its expiry',
      { status: { S: 'active' }, expires_at: { S: '2020-01-01T00:00:00Z' } },
      'expired',
    ],
  ])(
    'returns the item a failed condition saw on %s, which the domain reads as %s',
    async (_case, old, reason) => {
      dynamo.on(UpdateCommand).rejects(conditionFailed(old));

      const outcome = await repository.verifyAndCount('h', NOW, {});

      expect(outcome).toEqual({ ok: false, current: old ? unmarshall(old) : undefined });
      expect(
        outcome.ok ? 'counted' : 'current' in outcome ? refusalReasonOf(outcome.current) : 'throttled',
      ).toBe(reason);
    },
  );

  it('rethrows infrastructure failures for the authorizer to fail closed', async () => {
    dynamo
      .on(UpdateCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    await expect(repository.verifyAndCount('h', NOW, {})).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
  });
});

describe('create', () => {
  const item: ApiKeyItem = {
    key_hash: 'h',
    hash_version: 1,
    key_id: 'key_1',
    user_id: 'u',
    project_id: 'p',
    status: 'active',
    start: 'kg_test_abcd',
    created_at: NOW.toISOString(),
    usage_count: 0,
  };
  const cancelled = (reasons: { Code: string; Item?: Record<string, unknown> }[]) =>
    new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: reasons as never,
    });

  it('writes the key in one transaction: the user check (writing nothing on the user), the key and its reference, neither overwritten', async () => {
    dynamo.on(TransactWriteCommand).resolves({});

    await repository.create(item);

    const input = dynamo.commandCalls(TransactWriteCommand)[0]?.args[0].input;
    expect(input?.TransactItems).toHaveLength(3);
    expect(input?.TransactItems?.[0]?.ConditionCheck).toMatchObject({
      TableName: 'users',
      Key: { user_id: 'u' },
      ConditionExpression: 'attribute_exists(user_id) AND #status = :active',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':active': 'active' },
    });
    expect(input?.TransactItems?.[1]?.Put).toMatchObject({
      TableName: 'keys',
      Item: item,
      ConditionExpression: 'attribute_not_exists(key_hash)',
    });
    expect(input?.TransactItems?.[2]?.Put).toEqual({
      TableName: 'user-keys',
      Item: { user_id: 'u', key_id: 'key_1', key_hash: 'h', created_at: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(key_id)',
    });
  });

  it('writes a budgeted key’s new budget item in the same transaction, never overwriting one', async () => {
    dynamo.on(TransactWriteCommand).resolves({});
    const budget = budgetItemOf({ limit: micros(25_000_000), hold: micros(500_000), now: NOW });
    const budgeted: ApiKeyItem = {
      ...item,
      budget_id: budget.budget_id,
      budget_limit: 25_000_000,
      budget_period: 'day',
      budget_hold: 500_000,
    };

    await repository.create(budgeted, budget);

    const input = dynamo.commandCalls(TransactWriteCommand)[0]?.args[0].input;
    expect(input?.TransactItems).toHaveLength(4);
    expect(input?.TransactItems?.[1]?.Put?.Item).toEqual(budgeted);
    expect(input?.TransactItems?.[3]?.Put).toEqual({
      TableName: 'budgets',
      Item: budget,
      ConditionExpression: 'attribute_not_exists(budget_id)',
    });
  });

  it('reports an existing budget id as a collision (retried with fresh ids)', async () => {
    dynamo
      .on(TransactWriteCommand)
      .rejects(
        cancelled([{ Code: 'None' }, { Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }]),
      );
    const budget = budgetItemOf({ limit: micros(1_000_000), hold: micros(500_000), now: NOW });

    await expect(repository.create(item, budget)).rejects.toBeInstanceOf(KeyCollisionError);
  });

  it.each([
    ['a missing user', [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }], 'missing'],
    [
      'a suspended user',
      [{ Code: 'ConditionalCheckFailed', Item: { status: { S: 'suspended' } } }, { Code: 'None' }],
      'suspended',
    ],
  ])('refuses %s with UserNotActiveError', async (_case, reasons, reason) => {
    dynamo.on(TransactWriteCommand).rejects(cancelled(reasons));

    const error = await repository.create(item).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(UserNotActiveError);
    expect(error).toMatchObject({ reason });
  });

  it('reports an existing hash as a collision', async () => {
    dynamo
      .on(TransactWriteCommand)
      .rejects(cancelled([{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }]));

    await expect(repository.create(item)).rejects.toBeInstanceOf(KeyCollisionError);
  });

  it('retries a transaction conflict, then reports it as a StoreConflictError', async () => {
    const conflict = cancelled([{ Code: 'TransactionConflict' }, { Code: 'None' }, { Code: 'None' }]);
    dynamo.on(TransactWriteCommand).rejects(conflict);

    const error = await repository.create(item).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(StoreConflictError);
    expect((error as Error).cause).toBe(conflict);
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(4);
  });

  it('succeeds when a conflict clears on a retry', async () => {
    dynamo
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled([{ Code: 'None' }, { Code: 'TransactionConflict' }, { Code: 'None' }]))
      .resolves({});

    await repository.create(item);

    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it('rethrows other failures unchanged', async () => {
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    dynamo.on(TransactWriteCommand).rejects(throttled);

    await expect(repository.create(item)).rejects.toBe(throttled);
  });
});
