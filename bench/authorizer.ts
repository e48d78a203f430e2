/**
 * Authorizer vs its floor, side by side in one run on DynamoDB Local: the real handler
 * (functions/authorizer/handler.ts, with its logger and metrics) on a valid key, against a
 * bare conditional UpdateItem of the same item — the one call the design needs. Then a
 * malformed-key flood: time per call and DynamoDB calls made (counted from the process's
 * outgoing HTTP requests, not from our own code).
 */
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { MAX_VERIFY_MS } from '../functions/authorizer/authorize.js';
import { createTables, localDynamoClient, startDynamoDbLocal } from '../local/dynamodb.js';
import { createDocumentClient } from '../shared/adapters/aws-clients.js';
import {
  DynamoKeyVerificationStore,
  verifyAndCountInput,
} from '../shared/adapters/dynamodb/key-verification-store.js';
import { tableNamesFor } from '../shared/adapters/dynamodb/tables.js';
import { hashKey } from '../shared/domain/keys/format.js';
import { type KnownLimits, knownLimitsOf, planFor } from '../shared/domain/keys/limits.js';
import type { ApiKeyItem } from '../shared/domain/keys/model.js';
import { createKeyVerifier } from '../shared/domain/keys/verify.js';
import { createKeyServiceFor } from '../tests/support/keystore.js';
import { authorizerEventFor } from './lib/authorizer-event.js';
import { round, type Summary, summarize } from './lib/stats.js';

export interface AuthorizerBenchResult {
  iterations: number;
  authorizer: Summary;
  bare_update_item: Summary;
  ratio_median: number;
  ratio_p99: number;
  /** The same pair for a key with a rate limit and a quota (never reached): counting them in the write. */
  limited: { authorizer: Summary; bare_update_item: Summary; ratio_median: number; ratio_p99: number };
  /** Containers sharing a key with 1 s windows: DynamoDB calls per admitted request across rollovers. */
  rollover: {
    containers: number;
    windows_crossed: number;
    requests: number;
    admitted: number;
    dynamodb_calls: number;
    calls_per_admitted: number;
  };
  malformed: { calls: number; per_call_us: number; dynamodb_calls: number };
  /**
   * DynamoDB calls per admitted call (SPEC §9: 1): the key of the timed pairs, and a key with a
   * spend budget (the budget travels in the key item; the requests function holds it).
   */
  calls_per_call: { plain: number; budgeted: number; calls: number };
  /** A flood of one revoked key through the handler: DynamoDB calls after the first call. */
  revoked_flood: { calls: number; per_call_us: number; dynamodb_calls_after_first: number };
}

let httpRequests = 0;
subscribe('http.client.request.start', () => {
  httpRequests += 1;
});

const silent = { info: () => {}, warn: () => {}, error: () => {} };

export async function runAuthorizerBench(
  iterations = 2000,
  malformedCalls = 10_000,
): Promise<AuthorizerBenchResult> {
  const dynamo = await startDynamoDbLocal();
  try {
    const names = tableNamesFor('bench');
    const raw = localDynamoClient(dynamo.endpoint);
    await createTables(raw, names);
    raw.destroy();
    const setupClient = createDocumentClient({ endpoint: dynamo.endpoint });
    const service = createKeyServiceFor(setupClient, names, silent);
    await service.createUser({ userId: 'bench-user' });
    const created = await service.createKey({ userId: 'bench-user', name: 'bench' });
    if (!created.ok) throw new Error(created.error.message);
    const apiKey = created.apiKey;
    const limitedCreated = await service.createKey({ userId: 'bench-user', name: 'bench-limited' });
    const rolloverCreated = await service.createKey({ userId: 'bench-user', name: 'bench-rollover' });
    const revokedCreated = await service.createKey({ userId: 'bench-user', name: 'bench-revoked' });
    const budgetedCreated = await service.createKey({ userId: 'bench-user', name: 'bench-budgeted' });
    if (!limitedCreated.ok || !rolloverCreated.ok || !revokedCreated.ok || !budgetedCreated.ok)
      throw new Error('bench keys not created');
    await service.revokeKey({ userId: 'bench-user', keyId: revokedCreated.key.keyId });
    // Limits far above what the bench reaches: every call is admitted, and counted in them.
    const setLimits = (key: string, windowSeconds: number) =>
      setupClient.send(
        new UpdateCommand({
          TableName: names.apiKeys,
          Key: { key_hash: hashKey(key) },
          UpdateExpression:
            'SET rate_limit = :big, rate_window = :window, quota_limit = :big, quota_period = :month',
          ExpressionAttributeValues: { ':big': 1_000_000_000, ':window': windowSeconds, ':month': 'month' },
        }),
      );
    await setLimits(limitedCreated.apiKey, 86_400);
    await setLimits(rolloverCreated.apiKey, 1);
    // The key's copy of its budget (micro-dollars), as keys-admin writes it; no budget item is read here.
    await setupClient.send(
      new UpdateCommand({
        TableName: names.apiKeys,
        Key: { key_hash: hashKey(budgetedCreated.apiKey) },
        UpdateExpression:
          'SET budget_id = :id, budget_limit = :limit, budget_period = :month, budget_hold = :hold',
        ExpressionAttributeValues: {
          ':id': 'bud_bench',
          ':limit': 5_000_000,
          ':month': 'month',
          ':hold': 100_000,
        },
      }),
    );

    Object.assign(process.env, {
      API_KEYS_TABLE: names.apiKeys,
      KEY_ENVIRONMENT: 'test',
      USERS_TABLE: names.users,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
    });
    const { handler } = (await import('../functions/authorizer/handler.js')) as {
      handler: (
        event: APIGatewayRequestAuthorizerEvent,
        context: unknown,
      ) => Promise<APIGatewayAuthorizerResult>;
    };
    const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 5000 };

    // The floor: the same conditional UpdateItem through an identically configured client.
    const bareClient = createDocumentClient({
      endpoint: dynamo.endpoint,
      connectionTimeoutMs: 500,
      requestTimeoutMs: MAX_VERIFY_MS,
      maxAttempts: 2,
    });
    const keyHash = hashKey(apiKey);
    const bare = () =>
      bareClient.send(new UpdateCommand(verifyAndCountInput(names.apiKeys, keyHash, new Date())));
    const event = authorizerEventFor(apiKey);
    const authorize = async () => {
      const result = await handler(event, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Allow') throw new Error('bench key was refused');
    };

    for (let i = 0; i < 300; i += 1) {
      await authorize();
      await bare();
    }
    const authSamples: number[] = [];
    const bareSamples: number[] = [];
    let plainCalls = 0;
    for (let i = 0; i < iterations; i += 1) {
      // Alternate which goes first so neither always follows the other.
      const pair = i % 2 === 0 ? [authorize, bare] : [bare, authorize];
      for (const run of pair) {
        const requestsBefore = httpRequests;
        const started = performance.now();
        await run();
        const ms = performance.now() - started;
        if (run === authorize) {
          authSamples.push(ms);
          plainCalls += httpRequests - requestsBefore;
        } else bareSamples.push(ms);
      }
    }

    const budgetedEvent = authorizerEventFor(budgetedCreated.apiKey);
    const budgetedBefore = httpRequests;
    for (let i = 0; i < iterations; i += 1) {
      const result = await handler(budgetedEvent, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Allow' || !result.context?.budget)
        throw new Error('budgeted bench key was refused or lost its budget');
    }
    const budgetedCalls = httpRequests - budgetedBefore;

    // The same pair for the limited key: the bare call sends the very expression the
    // authorizer sends (same plan), keeping its own memory of the windows as a container does.
    const limitedHash = hashKey(limitedCreated.apiKey);
    let bareKnown: KnownLimits = { rate: { windowSeconds: 86_400 }, quota: { period: 'month' } };
    const bareLimited = async () => {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const now = new Date();
        try {
          const { Attributes } = await bareClient.send(
            new UpdateCommand(verifyAndCountInput(names.apiKeys, limitedHash, now, planFor(bareKnown, now))),
          );
          bareKnown = knownLimitsOf(Attributes as ApiKeyItem);
          return;
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
          bareKnown = knownLimitsOf(unmarshall(error.Item) as ApiKeyItem);
        }
      }
      throw new Error('bare limited write kept failing');
    };
    const limitedEvent = authorizerEventFor(limitedCreated.apiKey);
    const authorizeLimited = async () => {
      const result = await handler(limitedEvent, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Allow' || result.context?.limited)
        throw new Error('limited bench key was refused');
    };
    for (let i = 0; i < 300; i += 1) {
      await authorizeLimited();
      await bareLimited();
    }
    const limitedAuthSamples: number[] = [];
    const limitedBareSamples: number[] = [];
    for (let i = 0; i < iterations; i += 1) {
      const pair = i % 2 === 0 ? [authorizeLimited, bareLimited] : [bareLimited, authorizeLimited];
      for (const run of pair) {
        const started = performance.now();
        await run();
        (run === authorizeLimited ? limitedAuthSamples : limitedBareSamples).push(
          performance.now() - started,
        );
      }
    }

    // Rollovers: four containers (verifiers with their own memory) share a key with 1 s
    // windows; every call is admitted; DynamoDB calls are counted at the store.
    const rolloverStore = new DynamoKeyVerificationStore(bareClient, names.apiKeys);
    let rolloverCalls = 0;
    const containers = Array.from({ length: 4 }, () =>
      createKeyVerifier({
        environment: 'test',
        keys: {
          verifyAndCount: (...args) => {
            rolloverCalls += 1;
            return rolloverStore.verifyAndCount(...args);
          },
          readShards: (...args) => rolloverStore.readShards(...args),
          readKey: (...args) => rolloverStore.readKey(...args),
        },
      }),
    );
    const rolloverStarted = Date.now();
    let rolloverRequests = 0;
    let rolloverAdmitted = 0;
    while (Date.now() - rolloverStarted < 5_000) {
      const results = await Promise.all(
        containers.map((verifier) => verifier.verify(rolloverCreated.apiKey)),
      );
      rolloverRequests += results.length;
      rolloverAdmitted += results.filter((result) => result.ok).length;
    }
    const windowsCrossed = Math.floor(Date.now() / 1000) - Math.floor(rolloverStarted / 1000);

    const malformedEvents = Array.from({ length: 64 }, (_, i) => {
      const flipped = `${apiKey.slice(0, 10 + (i % 30))}${apiKey[10 + (i % 30)] === 'A' ? 'B' : 'A'}${apiKey.slice(11 + (i % 30))}`;
      const variants = [flipped, `sk-${apiKey.slice(8)}`, 'kg_test_short', `${apiKey}x`, 'x'.repeat(57)];
      return authorizerEventFor(variants[i % variants.length] ?? flipped);
    });
    const requestsBefore = httpRequests;
    const floodStarted = performance.now();
    for (let i = 0; i < malformedCalls; i += 1) {
      const result = await handler(malformedEvents[i % malformedEvents.length] ?? event, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Deny') throw new Error('malformed key was allowed');
    }
    const floodMs = performance.now() - floodStarted;
    const dynamodbCalls = httpRequests - requestsBefore;

    // A flood of one revoked key: the first call learns it, the container remembers.
    const revokedEvent = authorizerEventFor(revokedCreated.apiKey);
    await handler(revokedEvent, context);
    const revokedBefore = httpRequests;
    const revokedStarted = performance.now();
    for (let i = 0; i < malformedCalls; i += 1) {
      const result = await handler(revokedEvent, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Deny') throw new Error('revoked key was allowed');
    }
    const revokedMs = performance.now() - revokedStarted;
    const revokedCalls = httpRequests - revokedBefore;

    bareClient.destroy();
    setupClient.destroy();
    const authorizer = summarize(authSamples);
    const bareUpdateItem = summarize(bareSamples);
    const limitedAuthorizer = summarize(limitedAuthSamples);
    const limitedBare = summarize(limitedBareSamples);
    return {
      iterations,
      authorizer,
      bare_update_item: bareUpdateItem,
      ratio_median: round(authorizer.median_ms / bareUpdateItem.median_ms, 3),
      ratio_p99: round(authorizer.p99_ms / bareUpdateItem.p99_ms, 3),
      limited: {
        authorizer: limitedAuthorizer,
        bare_update_item: limitedBare,
        ratio_median: round(limitedAuthorizer.median_ms / limitedBare.median_ms, 3),
        ratio_p99: round(limitedAuthorizer.p99_ms / limitedBare.p99_ms, 3),
      },
      rollover: {
        containers: containers.length,
        windows_crossed: windowsCrossed,
        requests: rolloverRequests,
        admitted: rolloverAdmitted,
        dynamodb_calls: rolloverCalls,
        calls_per_admitted: round(rolloverCalls / Math.max(1, rolloverAdmitted), 4),
      },
      revoked_flood: {
        calls: malformedCalls,
        per_call_us: round((revokedMs / malformedCalls) * 1000, 2),
        dynamodb_calls_after_first: revokedCalls,
      },
      malformed: {
        calls: malformedCalls,
        per_call_us: round((floodMs / malformedCalls) * 1000, 2),
        dynamodb_calls: dynamodbCalls,
      },
      calls_per_call: {
        plain: round(plainCalls / iterations, 4),
        budgeted: round(budgetedCalls / iterations, 4),
        calls: iterations,
      },
    };
  } finally {
    await dynamo.stop();
  }
}
