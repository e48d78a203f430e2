/** keys-admin: invoked by ops from the console, the CLI or `aws lambda invoke` (SPEC §6). */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { keysAdminConfigSpec, loadConfig } from '../../shared/adapters/config.js';
import { DynamoKeyStore } from '../../shared/adapters/dynamodb/api-key-store.js';
import { DynamoBudgetStore } from '../../shared/adapters/dynamodb/budget-store.js';
import { DynamoUserStore } from '../../shared/adapters/dynamodb/user-store.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { type AdminAnswer, createKeysAdmin } from '../../shared/domain/admin/keys-admin.js';
import { createKeyService } from '../../shared/domain/keys/service.js';
import { claimedActorOf } from './actor.js';

const config = loadConfig(keysAdminConfigSpec);
const logger = createLogger('keys-admin');
const tracing = await loadTracing('keys-admin');
const client = createDocumentClient({
  endpoint: config.DYNAMODB_ENDPOINT,
  instrumentation: tracing?.instrumentation,
});
const keysAdmin = createKeysAdmin({
  keys: createKeyService({
    keys: new DynamoKeyStore({
      client,
      tableName: config.API_KEYS_TABLE,
      usersTableName: config.USERS_TABLE,
      userKeysTableName: config.USER_KEYS_TABLE,
      budgetsTableName: config.BUDGETS_TABLE,
    }),
    users: new DynamoUserStore(client, config.USERS_TABLE),
    budgets: new DynamoBudgetStore(client, config.BUDGETS_TABLE),
    ...(config.BUDGET_DEFAULT_HOLD_USD !== undefined
      ? { defaultBudgetHoldUsd: config.BUDGET_DEFAULT_HOLD_USD }
      : {}),
    environment: config.KEY_ENVIRONMENT,
    logger,
  }),
  logger,
});

export const handler = middy<unknown, AdminAnswer, Error, Context>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  .handler((event, context) =>
    keysAdmin(event, claimedActorOf(context), () => context.getRemainingTimeInMillis()),
  );
