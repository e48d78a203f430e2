/**
 * The fault proxy (dynamodb-proxy.ts) in front of a test file's tables, and the filters the
 * late-answer tests pick one kind of write with: a write is told apart by its table and by a
 * fragment of its UpdateExpression, which names what it changes.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { allTables, tableNameOf } from '../../shared/adapters/dynamodb/tables.js';
import type { TestTables } from './dynamo.js';
import {
  type DynamoDbProxy,
  type ProxiedRequest,
  type ProxyRecord,
  type ProxyRule,
  startDynamoDbProxy,
} from './dynamodb-proxy.js';

/** A proxy to the tables' DynamoDB Local that knows every table's key attributes. */
export function startLateProxy(
  tables: Pick<TestTables, 'endpoint' | 'names'>,
  seed = 23,
): Promise<DynamoDbProxy> {
  const keyAttributes = Object.fromEntries(
    allTables.map((table) => [
      tableNameOf(tables.names, table),
      [table.partitionKey.name, ...(table.sortKey ? [table.sortKey.name] : [])],
    ]),
  );
  return startDynamoDbProxy({ target: tables.endpoint, keyAttributes, seed });
}

/** The string value of a key attribute of the one item a request touches (`{ S: … }` on the wire). */
export function keyStringOf(request: Pick<ProxiedRequest, 'key'>, attribute: string): string | undefined {
  const value = request.key?.[attribute];
  if (typeof value !== 'object' || value === null) return undefined;
  const text = (value as { S?: unknown }).S;
  return typeof text === 'string' ? text : undefined;
}

/** An UpdateItem on `tableName` whose UpdateExpression contains `fragment`. */
export function updateOf(tableName: string, fragment: string) {
  return (request: ProxiedRequest): boolean =>
    request.operation === 'UpdateItem' &&
    request.tableName === tableName &&
    typeof request.body.UpdateExpression === 'string' &&
    request.body.UpdateExpression.includes(fragment);
}

/**
 * The proxy's rules behind an observer that sees every request first (and never applies), so
 * each record can be told by its request's body: records and requests are appended in the
 * same order, in the same synchronous step of the proxy's handler.
 */
export function requestLog(proxy: DynamoDbProxy) {
  let requests: ProxiedRequest[] = [];
  const observer: ProxyRule = {
    action: 'delay',
    ms: 0,
    match: (request) => {
      requests.push(request);
      return false;
    },
  };
  return {
    setRules(rules: readonly ProxyRule[] = []): void {
      proxy.setRules([observer, ...rules]);
    },
    reset(): void {
      requests = [];
      proxy.resetRecords();
    },
    /** Once every request so far has ended (a delayed answer too), the records of those matching `which`. */
    async records(which?: (request: ProxiedRequest) => boolean): Promise<ProxyRecord[]> {
      await proxy.settled();
      if (proxy.records.length !== requests.length) throw new Error('requests arrived while the log was off');
      return proxy.records.filter((_, index) => {
        const request = requests[index];
        return which === undefined || (request !== undefined && which(request));
      });
    },
  };
}

/** What the proxy saw of each request, without the parsed bodies: what the assertions compare. */
export function outcomesOf(records: readonly ProxyRecord[], operation?: string) {
  return records
    .filter((record) => operation === undefined || record.operation === operation)
    .map(({ operation: op, outcome, applied, answered }) => ({ operation: op, outcome, applied, answered }));
}

/** Document clients through the proxy, destroyed together at the end of each test. */
export function clientPool(proxy: DynamoDbProxy) {
  const clients: DynamoDBDocumentClient[] = [];
  /** Adopts a client made some other way, so it is destroyed with the rest. */
  const adopt = (client: DynamoDBDocumentClient): DynamoDBDocumentClient => {
    clients.push(client);
    return client;
  };
  return {
    adopt,
    /** A client as the functions make one (createDocumentClient), on the proxy. */
    through: (
      options: Omit<NonNullable<Parameters<typeof createDocumentClient>[0]>, 'endpoint'> = {},
    ): DynamoDBDocumentClient => adopt(createDocumentClient({ ...options, endpoint: proxy.endpoint })),
    destroyAll(): void {
      // A document client's destroy() does nothing: its HTTP handler holds the sockets.
      for (const client of clients.splice(0)) client.config.requestHandler.destroy?.();
    },
  };
}
