/**
 * Authorizer vs its floor, side by side in one run on DynamoDB Local: the real handler
 * (functions/authorizer/handler.ts, with its logger and metrics) on a valid key, against a
 * bare conditional UpdateItem of the same item — the one call the design needs. Then a
 * malformed-key flood: time per call and DynamoDB calls made (counted from the process's
 * outgoing HTTP requests, not from our own code).
 */
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createTables, localDynamoClient, startDynamoDbLocal } from '../local/dynamodb.js';
import { createDocumentClient } from '../shared/adapters/aws-clients.js';
import { verifyAndCountInput } from '../shared/adapters/dynamodb/key-verification-store.js';
import { tableNamesFor } from '../shared/adapters/dynamodb/tables.js';
import { hashKey } from '../shared/domain/keys/format.js';
import { createKeyServiceFor } from '../tests/support/keystore.js';
import { round, type Summary, summarize } from './lib/stats.js';

export interface AuthorizerBenchResult {
  iterations: number;
  authorizer: Summary;
  bare_update_item: Summary;
  ratio_median: number;
  ratio_p99: number;
  malformed: { calls: number; per_call_us: number; dynamodb_calls: number };
}

let httpRequests = 0;
subscribe('http.client.request.start', () => {
  httpRequests += 1;
});

const silent = { info: () => {}, warn: () => {}, error: () => {} };

function eventFor(key: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:bench/dev/POST/api/v1/requests',
    resource: '/api/v1/requests',
    path: '/api/v1/requests',
    httpMethod: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    multiValueHeaders: { Authorization: [`Bearer ${key}`], 'Content-Type': ['application/json'] },
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

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
      requestTimeoutMs: 1500,
      maxAttempts: 2,
    });
    const keyHash = hashKey(apiKey);
    const bare = () =>
      bareClient.send(new UpdateCommand(verifyAndCountInput(names.apiKeys, keyHash, new Date())));
    const event = eventFor(apiKey);
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
    for (let i = 0; i < iterations; i += 1) {
      // Alternate which goes first so neither always follows the other.
      const pair = i % 2 === 0 ? [authorize, bare] : [bare, authorize];
      for (const run of pair) {
        const started = performance.now();
        await run();
        (run === authorize ? authSamples : bareSamples).push(performance.now() - started);
      }
    }

    const malformedEvents = Array.from({ length: 64 }, (_, i) => {
      const flipped = `${apiKey.slice(0, 10 + (i % 30))}${apiKey[10 + (i % 30)] === 'A' ? 'B' : 'A'}${apiKey.slice(11 + (i % 30))}`;
      const variants = [flipped, `sk-${apiKey.slice(8)}`, 'kg_test_short', `${apiKey}x`, 'x'.repeat(57)];
      return eventFor(variants[i % variants.length] ?? flipped);
    });
    const requestsBefore = httpRequests;
    const floodStarted = performance.now();
    for (let i = 0; i < malformedCalls; i += 1) {
      const result = await handler(malformedEvents[i % malformedEvents.length] ?? event, context);
      if (result.policyDocument.Statement[0]?.Effect !== 'Deny') throw new Error('malformed key was allowed');
    }
    const floodMs = performance.now() - floodStarted;
    const dynamodbCalls = httpRequests - requestsBefore;

    bareClient.destroy();
    setupClient.destroy();
    const authorizer = summarize(authSamples);
    const bareUpdateItem = summarize(bareSamples);
    return {
      iterations,
      authorizer,
      bare_update_item: bareUpdateItem,
      ratio_median: round(authorizer.median_ms / bareUpdateItem.median_ms, 3),
      ratio_p99: round(authorizer.p99_ms / bareUpdateItem.p99_ms, 3),
      malformed: {
        calls: malformedCalls,
        per_call_us: round((floodMs / malformedCalls) * 1000, 2),
        dynamodb_calls: dynamodbCalls,
      },
    };
  } finally {
    await dynamo.stop();
  }
}
