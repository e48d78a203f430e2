/**
 * The fault-injecting DynamoDB proxy on the real DynamoDB Local: each fault shows up at the
 * SDK client as it would against AWS, and the records tell exactly what DynamoDB applied.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { localDynamoClient } from '../../../local/dynamodb.js';
import { createDocumentClient } from '../../../shared/adapters/aws-clients.js';
import { type DynamoDbProxy, startDynamoDbProxy } from '../../support/dynamodb-proxy.js';

const endpoint = inject('dynamodbEndpoint');
const TableName = `proxy-${randomUUID().slice(0, 8)}`;
const THROTTLE = 'ProvisionedThroughputExceededException';

let raw: DynamoDBClient;
let direct: DynamoDBDocumentClient;
let proxy: DynamoDbProxy;
const clients: DynamoDBDocumentClient[] = [];

beforeAll(async () => {
  raw = localDynamoClient(endpoint);
  await raw.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  direct = createDocumentClient({ endpoint });
  proxy = await startDynamoDbProxy({ target: endpoint, keyAttributes: { [TableName]: ['pk', 'sk'] } });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await proxy?.close();
  await raw?.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
  direct?.destroy();
  raw?.destroy();
});

beforeEach(() => {
  proxy.clearRules();
  proxy.setWriteCeiling(undefined);
  proxy.resetRecords();
});

/** A client through the proxy; one attempt unless asked, so each test controls retries itself. */
function through(options: { requestTimeoutMs?: number; maxAttempts?: number } = {}, via = proxy) {
  const client = createDocumentClient({ endpoint: via.endpoint, maxAttempts: 1, ...options });
  clients.push(client);
  return client;
}

const increment = (client: DynamoDBDocumentClient, pk: string) =>
  client.send(
    new UpdateCommand({
      TableName,
      Key: { pk, sk: 'counter' },
      UpdateExpression: 'ADD n :one',
      ExpressionAttributeValues: { ':one': 1 },
    }),
  );

async function counterOf(pk: string): Promise<unknown> {
  const { Item } = await direct.send(
    new GetCommand({ TableName, Key: { pk, sk: 'counter' }, ConsistentRead: true }),
  );
  return Item?.n;
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('expected the call to fail'),
    (error: unknown) => error as Error & { code?: string; $metadata?: { httpStatusCode?: number } },
  );

const summary = () =>
  proxy.records.map(({ operation, outcome, status, applied, answered }) => ({
    operation,
    outcome,
    status,
    applied,
    answered,
  }));

describe('forwarding', () => {
  it('passes Get, Put, Update, Query and TransactWrite through and records what DynamoDB answered', async () => {
    const client = through();
    const pk = `fwd-${randomUUID()}`;
    await client.send(new PutCommand({ TableName, Item: { pk, sk: 'a', v: 1 } }));
    await client.send(
      new UpdateCommand({
        TableName,
        Key: { pk, sk: 'a' },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': 2 },
      }),
    );
    await client.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { pk, sk: 'b', v: 3 } } },
          {
            Update: {
              TableName,
              Key: { pk, sk: 'a' },
              UpdateExpression: 'ADD v :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
        ],
      }),
    );
    const got = await client.send(new GetCommand({ TableName, Key: { pk, sk: 'a' }, ConsistentRead: true }));
    const queried = await client.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
      }),
    );
    const refused = await failureOf(
      client.send(
        new PutCommand({ TableName, Item: { pk, sk: 'a' }, ConditionExpression: 'attribute_not_exists(pk)' }),
      ),
    );

    expect(got.Item).toEqual({ pk, sk: 'a', v: 3 });
    expect(queried.Items?.map((item) => item.sk)).toEqual(['a', 'b']);
    expect(refused.name).toBe('ConditionalCheckFailedException');
    const ok = { outcome: 'forwarded', status: 200, answered: true };
    expect(summary()).toEqual([
      { operation: 'PutItem', ...ok, applied: true },
      { operation: 'UpdateItem', ...ok, applied: true },
      { operation: 'TransactWriteItems', ...ok, applied: true },
      { operation: 'GetItem', ...ok, applied: undefined },
      { operation: 'Query', ...ok, applied: undefined },
      { operation: 'PutItem', outcome: 'forwarded', status: 400, applied: false, answered: true },
    ]);
    const key = { pk: { S: pk }, sk: { S: 'a' } };
    expect(proxy.records[0]).toMatchObject({ tableName: TableName, key });
    expect(proxy.records[2]?.writes.map((write) => write.key)).toEqual([
      { pk: { S: pk }, sk: { S: 'b' } },
      key,
    ]);
  });
});

describe('answers lost after DynamoDB applied the write', () => {
  it('a delay past the client time limit: the client times out, the write was applied', async () => {
    proxy.setRules([{ action: 'delay', ms: 600, operation: 'UpdateItem' }]);
    const pk = `delay-${randomUUID()}`;

    const error = await failureOf(increment(through({ requestTimeoutMs: 200 }), pk));
    await proxy.settled();

    expect(error.name).toBe('TimeoutError');
    expect(summary()).toEqual([
      { operation: 'UpdateItem', outcome: 'delayed', status: 200, applied: true, answered: false },
    ]);
    expect(await counterOf(pk)).toBe(1);
  });

  it('an SDK retrying a timed-out ADD applies it once per attempt (the double apply keygate must avoid)', async () => {
    proxy.setRules([{ action: 'delay', ms: 600, operation: 'UpdateItem' }]);
    const retrying = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: proxy.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 3,
        requestHandler: new NodeHttpHandler({ requestTimeout: 200, throwOnRequestTimeout: true }),
      }),
    );
    clients.push(retrying);
    const pk = `retry-${randomUUID()}`;

    const error = await failureOf(increment(retrying, pk));
    await proxy.settled();

    expect(error.name).toBe('TimeoutError');
    expect(await counterOf(pk)).toBe(3);
    expect(proxy.stats()).toMatchObject({ requests: 3, appliedWrites: 3, appliedUnanswered: 3 });
    expect(proxy.stats().byOutcome.delayed).toBe(3);
  });

  it('a drop resets the connection after DynamoDB applied the write, once per `times`', async () => {
    proxy.setRules([{ action: 'drop', operation: 'UpdateItem', times: 1 }]);
    const client = through();
    const pk = `drop-${randomUUID()}`;

    const error = await failureOf(increment(client, pk));
    await increment(client, pk);

    expect(error.code).toBe('ECONNRESET');
    expect(summary()).toEqual([
      { operation: 'UpdateItem', outcome: 'dropped', status: 200, applied: true, answered: false },
      { operation: 'UpdateItem', outcome: 'forwarded', status: 200, applied: true, answered: true },
    ]);
    expect(await counterOf(pk)).toBe(2);
  });

  it('a hang never answers: the client gives up at its time limit, the write was applied', async () => {
    proxy.setRules([{ action: 'hang', operation: 'UpdateItem' }]);
    const pk = `hang-${randomUUID()}`;

    const error = await failureOf(increment(through({ requestTimeoutMs: 200 }), pk));
    await proxy.settled();

    expect(error.name).toBe('TimeoutError');
    expect(summary()).toEqual([
      { operation: 'UpdateItem', outcome: 'hung', status: 200, applied: true, answered: false },
    ]);
    expect(await counterOf(pk)).toBe(1);
  });

  it('close() ends a hung connection and pending delays at once', async () => {
    const own = await startDynamoDbProxy({ target: endpoint });
    own.setRules([
      { action: 'hang', operation: 'GetItem' },
      { action: 'delay', ms: 30_000, operation: 'UpdateItem' },
    ]);
    const client = through({ requestTimeoutMs: 20_000 }, own);
    const hung = failureOf(client.send(new GetCommand({ TableName, Key: { pk: 'none', sk: 'none' } })));
    const delayed = failureOf(increment(client, `close-${randomUUID()}`));
    while (own.records.filter((record) => record.status !== undefined).length < 2) await sleep(10);

    const started = performance.now();
    await own.close();
    await Promise.all([hung, delayed, own.settled()]);

    expect(performance.now() - started).toBeLessThan(1000);
    expect((await hung).code).toBe('ECONNRESET');
    expect(own.stats()).toMatchObject({ appliedWrites: 1, appliedUnanswered: 1 });
  });
});

describe('refusals before DynamoDB', () => {
  it('refuse-before answers as a throttle, applies nothing, and only where its filters match', async () => {
    const hot = `refuse-${randomUUID()}`;
    const cold = `refuse-${randomUUID()}`;
    proxy.setRules([
      { action: 'refuse-before', operation: 'UpdateItem', tableName: 'another-table' },
      {
        action: 'refuse-before',
        operation: ['UpdateItem', 'PutItem'],
        tableName: TableName,
        match: (request) => JSON.stringify(request.key?.pk) === JSON.stringify({ S: hot }),
        times: 1,
      },
    ]);
    const client = through();

    const error = await failureOf(increment(client, hot));
    await increment(client, cold);
    await increment(client, hot);

    expect(error.name).toBe(THROTTLE);
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(summary()).toEqual([
      { operation: 'UpdateItem', outcome: 'refused', status: undefined, applied: undefined, answered: true },
      { operation: 'UpdateItem', outcome: 'forwarded', status: 200, applied: true, answered: true },
      { operation: 'UpdateItem', outcome: 'forwarded', status: 200, applied: true, answered: true },
    ]);
    expect(await counterOf(hot)).toBe(1);
  });

  it('a probability draws the same requests again for the same seed', async () => {
    const client = through();
    const outcomes = async () => {
      proxy.setRules([{ action: 'refuse-before', operation: 'GetItem', probability: 0.5 }]);
      proxy.resetRecords();
      for (let index = 0; index < 16; index += 1) {
        await client.send(new GetCommand({ TableName, Key: { pk: 'p', sk: 'p' } })).catch(() => undefined);
      }
      return proxy.records.map((record) => record.outcome);
    };

    const first = await outcomes();
    const second = await outcomes();

    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['refused', 'forwarded']));
  });
});

describe('per-item write ceiling', () => {
  it('admits about perItemPerSecond writes a second to one item and leaves other items alone', async () => {
    proxy.setWriteCeiling({ perItemPerSecond: 20 });
    const client = through();
    const hot = `ceiling-${randomUUID()}`;
    const others = Array.from({ length: 10 }, (_, index) => `${hot}-other-${index}`);
    const burst = async () => {
      const started = performance.now();
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => increment(client, hot)));
      const seconds = (performance.now() - started) / 1000;
      const rejected = results.flatMap((result) =>
        result.status === 'rejected' ? [result.reason as Error] : [],
      );
      expect(new Set(rejected.map((error) => error.name))).toEqual(new Set([THROTTLE]));
      return { accepted: 60 - rejected.length, ceiling: 20 + Math.ceil(seconds * 20) };
    };

    const first = await burst();
    await Promise.all(others.map((pk) => increment(client, pk)));
    await sleep(1000);
    const second = await burst();

    for (const { accepted, ceiling } of [first, second]) {
      expect(accepted).toBeGreaterThanOrEqual(19);
      expect(accepted).toBeLessThanOrEqual(ceiling);
    }
    expect(await counterOf(hot)).toBe(first.accepted + second.accepted);
    expect(proxy.stats().byOutcome.throttled).toBe(120 - first.accepted - second.accepted);
    for (const pk of others) expect(await counterOf(pk)).toBe(1);
  });

  it('counts every item of a transaction, and a PutItem by the key attributes of its Item', async () => {
    proxy.setWriteCeiling({ perItemPerSecond: 2 });
    const client = through();
    const [x, y, z] = ['x', 'y', 'z'].map((name) => `tx-${name}-${randomUUID()}`) as [string, string, string];
    const transaction = () =>
      client.send(
        new TransactWriteCommand({
          TransactItems: [x, y].map((pk) => ({
            Update: {
              TableName,
              Key: { pk, sk: 'counter' },
              UpdateExpression: 'ADD n :one',
              ExpressionAttributeValues: { ':one': 1 },
            },
          })),
        }),
      );

    await transaction();
    await transaction();
    const third = await failureOf(transaction());
    const put = await failureOf(
      client.send(new PutCommand({ TableName, Item: { pk: x, sk: 'counter', n: 99 } })),
    );
    await increment(client, z);

    expect([third.name, put.name]).toEqual([THROTTLE, THROTTLE]);
    expect(proxy.records.map((record) => record.outcome)).toEqual([
      'forwarded',
      'forwarded',
      'throttled',
      'throttled',
      'forwarded',
    ]);
    expect([await counterOf(x), await counterOf(y), await counterOf(z)]).toEqual([2, 2, 1]);
  });
});
