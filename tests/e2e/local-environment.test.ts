/**
 * What the local stack gives its functions (SPEC §8): the environment the stack deploys
 * (infra/functions.ts) with the local endpoints, and every table of the shared table module on
 * DynamoDB Local — the Budgets table included, named to requests and keys-admin, with the
 * imitated stage's default per-call hold (SPEC §5b: 0.50 on the local stack).
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_COST_USD } from '../../functions/reference-brain/brain.js';
import { FUNCTION_NAMES, type FunctionName } from '../../infra/functions.js';
import { STAGE_NAMES, STAGES } from '../../infra/stages.js';
import { localDynamoClient } from '../../local/dynamodb.js';
import {
  LOCAL_STAGE,
  type LocalEnvironmentInputs,
  type LocalStack,
  localEnvironmentOf,
} from '../../local/stack.js';
import {
  authorizerConfigSpec,
  keysAdminConfigSpec,
  loadConfig,
  requestsConfigSpec,
} from '../../shared/adapters/config.js';
import { allTables, tableNameOf, tableNamesFor } from '../../shared/adapters/dynamodb/tables.js';
import { startTestStack } from './support/stack.js';

const inputs: LocalEnvironmentInputs = {
  stage: 'dev',
  tableNames: tableNamesFor('env-test'),
  region: 'us-east-1',
  dynamodbEndpoint: 'http://127.0.0.1:8000',
  lambdaUrl: 'http://127.0.0.1:3001',
  brainTimeoutMs: 25_000,
  brainMaxDurationMs: 30_000,
};
const envOf = (name: FunctionName, overrides: Partial<LocalEnvironmentInputs> = {}) =>
  localEnvironmentOf(name, { ...inputs, ...overrides });

describe('the local functions’ environment', () => {
  it('names the Budgets table to requests and keys-admin, and to no other function', () => {
    expect(envOf('requests').BUDGETS_TABLE).toBe('env-test-Budgets');
    expect(envOf('keys-admin').BUDGETS_TABLE).toBe('env-test-Budgets');
    for (const name of FUNCTION_NAMES.filter((fn) => fn !== 'requests' && fn !== 'keys-admin')) {
      expect(envOf(name), name).not.toHaveProperty('BUDGETS_TABLE');
    }
  });

  it('gives keys-admin the default hold of 0.50, the reference brain’s ceiling, and no other function', () => {
    expect(envOf('keys-admin').BUDGET_DEFAULT_HOLD_USD).toBe('0.5');
    expect(Number(envOf('keys-admin').BUDGET_DEFAULT_HOLD_USD)).toBe(DEFAULT_MAX_COST_USD);
    for (const name of FUNCTION_NAMES.filter((fn) => fn !== 'keys-admin')) {
      expect(envOf(name), name).not.toHaveProperty('BUDGET_DEFAULT_HOLD_USD');
    }
  });

  it.each(STAGE_NAMES)("follows the imitated stage's hold (%s), under the local stage's name", (stage) => {
    const env = envOf('keys-admin', { stage });
    expect(env.BUDGET_DEFAULT_HOLD_USD).toBe(String(STAGES[stage].budgetDefaultHoldUsd));
    expect(env.KEYGATE_STAGE).toBe(LOCAL_STAGE);
  });

  it('is what each function’s configuration accepts, with the local endpoints', () => {
    expect(loadConfig(keysAdminConfigSpec, envOf('keys-admin'))).toMatchObject({
      BUDGETS_TABLE: 'env-test-Budgets',
      BUDGET_DEFAULT_HOLD_USD: 0.5,
      DYNAMODB_ENDPOINT: inputs.dynamodbEndpoint,
    });
    expect(loadConfig(requestsConfigSpec, envOf('requests'))).toMatchObject({
      BUDGETS_TABLE: 'env-test-Budgets',
      IDEMPOTENCY_TABLE: 'env-test-Idempotency',
      BRAIN_FUNCTION_NAME: 'reference-brain',
      BRAIN_MAX_DURATION_MS: inputs.brainMaxDurationMs,
      LAMBDA_ENDPOINT: inputs.lambdaUrl,
    });
    expect(loadConfig(authorizerConfigSpec, envOf('authorizer'))).toMatchObject({
      API_KEYS_TABLE: 'env-test-ApiKeys',
      KEY_ENVIRONMENT: 'test',
    });
  });
});

describe('the local stack’s tables', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('creates every table of the shared module, Budgets keyed by budget_id', async () => {
    const client = localDynamoClient(stack.dynamodbEndpoint);
    try {
      for (const table of allTables) {
        const { Table } = await client.send(
          new DescribeTableCommand({ TableName: tableNameOf(stack.tableNames, table) }),
        );
        expect(Table?.TableStatus, table.id).toBe('ACTIVE');
        expect(Table?.KeySchema?.[0], table.id).toEqual({
          AttributeName: table.partitionKey.name,
          KeyType: 'HASH',
        });
      }
      expect(allTables.map((table) => table.id)).toContain('Budgets');
      expect(stack.tableNames.budgets.endsWith('-Budgets')).toBe(true);
    } finally {
      client.destroy();
    }
  });
});
