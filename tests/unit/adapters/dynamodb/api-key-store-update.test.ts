/** keys-admin's `update` as one conditional UpdateItem: SET/REMOVE per field, counters kept only under a guard. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../../../shared/adapters/aws-clients.js';
import { DynamoKeyStore } from '../../../../shared/adapters/dynamodb/api-key-store.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import type { KeyChange } from '../../../../shared/domain/keys/ports.js';

const doc = createDocumentClient({ endpoint: 'http://127.0.0.1:1' });
const dynamo = mockClient(doc);
afterEach(() => dynamo.reset());

const store = new DynamoKeyStore({
  client: doc,
  tableName: 'keys',
  usersTableName: 'users',
  userKeysTableName: 'user-keys',
  budgetsTableName: 'budgets',
});

const ITEM = { key_hash: 'h', key_id: 'key_1', user_id: 'u1', status: 'active' } as ApiKeyItem;

/** The UpdateItem input `update` sends for `change`. */
async function inputFor(change: KeyChange) {
  dynamo.on(UpdateCommand).resolves({ Attributes: ITEM });
  await store.update('h', 'u1', change);
  const input = dynamo.commandCalls(UpdateCommand)[0]?.args[0].input;
  if (!input) throw new Error('no UpdateItem sent');
  return input;
}

describe('update', () => {
  it('writes one UpdateItem on an active key of the user, answering the new item', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: ITEM });

    const written = await store.update('h', 'u1', { name: 'ci' });

    expect(written).toEqual({ ok: true, item: ITEM });
    expect(dynamo.calls()).toHaveLength(1);
    const input = dynamo.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'keys',
      Key: { key_hash: 'h' },
      ConditionExpression: 'attribute_exists(key_hash) AND user_id = :user AND #status = :active',
      UpdateExpression: 'SET #name = :name',
      ExpressionAttributeNames: { '#status': 'status', '#name': 'name' },
      ExpressionAttributeValues: { ':user': 'u1', ':active': 'active', ':name': 'ci' },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('removes what null clears, a limit with its counters', async () => {
    const input = await inputFor({ name: null, expiresAt: null, rateLimit: null, quota: null, scopes: null });

    expect(input.UpdateExpression).toBe(
      'REMOVE #name, expires_at, rate_limit, rate_window, rate_window_start, rate_count, quota_limit, quota_period, quota_period_start, quota_used, scopes',
    );
  });

  it('keeps a counter only while the window length (period) is the one it counted, and asserts it', async () => {
    const input = await inputFor({
      rateLimit: { limit: 5, windowSeconds: 60, keepCount: true },
      quota: { limit: 9, period: 'day', keepUsage: true },
    });

    expect(input.UpdateExpression).toBe(
      'SET rate_limit = :rate_limit, rate_window = :rate_window, quota_limit = :quota_limit, quota_period = :quota_period',
    );
    expect(input.ConditionExpression).toContain('rate_window = :rate_window');
    expect(input.ConditionExpression).toContain('quota_period = :quota_period');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':rate_limit': 5,
      ':rate_window': 60,
      ':quota_limit': 9,
      ':quota_period': 'day',
    });
  });

  it('restarts counting for a new window length (period): the counters go, nothing is asserted', async () => {
    const input = await inputFor({
      rateLimit: { limit: 5, windowSeconds: 120, keepCount: false },
      quota: { limit: 9, period: 'month', keepUsage: false },
    });

    expect(input.UpdateExpression).toBe(
      'SET rate_limit = :rate_limit, rate_window = :rate_window, quota_limit = :quota_limit, quota_period = :quota_period REMOVE rate_window_start, rate_count, quota_period_start, quota_used',
    );
    expect(input.ConditionExpression).not.toContain('rate_window =');
    expect(input.ConditionExpression).not.toContain('quota_period =');
  });

  it('sets the expiry and the scopes as given', async () => {
    const input = await inputFor({
      expiresAt: '2030-01-01T00:00:00.000Z',
      scopes: { providers: ['openai'] },
    });

    expect(input.UpdateExpression).toBe('SET expires_at = :expires_at, scopes = :scopes');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':expires_at': '2030-01-01T00:00:00.000Z',
      ':scopes': { providers: ['openai'] },
    });
  });

  it('names a budget and copies its configuration, asserting the budget the key named when read', async () => {
    const ref = { budgetId: 'bud_new', limit: 25_000_000, period: 'month' as const, hold: 100_000 };
    const fresh = await inputFor({ budget: { ref, expectedBudgetId: null } });
    dynamo.reset();
    const again = await inputFor({ budget: { ref, expectedBudgetId: 'bud_new' } });

    for (const input of [fresh, again]) {
      expect(input.UpdateExpression).toBe(
        'SET budget_id = :budget_id, budget_limit = :budget_limit, budget_period = :budget_period, budget_hold = :budget_hold',
      );
      expect(input.ExpressionAttributeValues).toMatchObject({
        ':budget_id': 'bud_new',
        ':budget_limit': 25_000_000,
        ':budget_period': 'month',
        ':budget_hold': 100_000,
      });
    }
    expect(fresh.ConditionExpression).toContain('attribute_not_exists(budget_id)');
    expect(again.ConditionExpression).toContain('budget_id = :expected_budget_id');
    expect(again.ExpressionAttributeValues).toMatchObject({ ':expected_budget_id': 'bud_new' });
  });

  it('clears a budget by removing the key’s budget fields only', async () => {
    const input = await inputFor({ budget: null });

    expect(input.UpdateExpression).toBe('REMOVE budget_id, budget_limit, budget_period, budget_hold');
    expect(input.ConditionExpression).not.toContain('budget_id');
  });

  it('answers a refused write with the item as it was, or none when the key is missing', async () => {
    const old = { ...ITEM, status: 'revoked' };
    dynamo
      .on(UpdateCommand)
      .rejectsOnce(
        new ConditionalCheckFailedException({
          message: 'failed',
          $metadata: {},
          Item: marshall(old) as never,
        }),
      )
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));

    expect(await store.update('h', 'u1', { name: 'x' })).toEqual({ ok: false, current: old });
    expect(await store.update('h', 'u1', { name: 'x' })).toEqual({ ok: false, current: undefined });
  });

  it('throws any other failure', async () => {
    dynamo.on(UpdateCommand).rejects(new Error('throttled'));

    await expect(store.update('h', 'u1', { name: 'x' })).rejects.toThrow('throttled');
  });
});
