/**
 * DynamoDB's JSON wire protocol as the fault-injecting proxy (dynamodb-proxy.ts) reads it:
 * which operation a request is, which table and items it touches, whether DynamoDB applied
 * a write from its answer's status, the throttle answer DynamoDB gives, and a per-item
 * write-rate ceiling (token buckets) like the one a hot partition key hits on real DynamoDB.
 */
import { randomUUID } from 'node:crypto';

/** An item key or item in DynamoDB JSON (`{ pk: { S: 'a' } }`), as it crossed the wire. */
export type AttributeMap = Record<string, unknown>;

/** Key attribute names per table, so a PutItem's `Item` can be reduced to its key. */
export type KeyAttributes = Readonly<Record<string, readonly string[]>>;

/** One item a write changes. */
export interface WriteTarget {
  tableName: string;
  /** The item's key; undefined for a PutItem on a table missing from `keyAttributes`. */
  key: AttributeMap | undefined;
  /** Table + canonical JSON of the key (or of the whole Item when its key is unknown). */
  itemId: string;
}

/** A request the proxy received, parsed: what rules match on. */
export interface ProxiedRequest {
  /** From `X-Amz-Target`: `DynamoDB_20120810.UpdateItem` → `UpdateItem`. */
  operation: string;
  /** The request's table; for a multi-table call, the first one it names. */
  tableName: string | undefined;
  /** The one item a single-item call reads or writes, when known. */
  key: AttributeMap | undefined;
  /** Items written: one per PutItem/UpdateItem/DeleteItem, each Put/Update/Delete of a transaction or batch. */
  writes: readonly WriteTarget[];
  /** The parsed JSON body ({} when it is not JSON). */
  body: AttributeMap;
}

export const WRITE_OPERATIONS: ReadonlySet<string> = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
  'BatchWriteItem',
]);

function objectOf(value: unknown): AttributeMap | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as AttributeMap)
    : undefined;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** JSON with object keys sorted at every level, so equal keys give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = objectOf(value);
  if (!object) return JSON.stringify(value);
  const fields = Object.keys(object)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name])}`);
  return `{${fields.join(',')}}`;
}

function targetOf(tableName: string, key: AttributeMap | undefined, item?: AttributeMap): WriteTarget {
  return { tableName, key, itemId: `${tableName}\u0000${canonicalJson(key ?? item ?? {})}` };
}

function putTarget(tableName: string, item: AttributeMap | undefined, keyAttributes: KeyAttributes) {
  const names = keyAttributes[tableName];
  const key = names && item ? Object.fromEntries(names.map((name) => [name, item[name]])) : undefined;
  return targetOf(tableName, key, item);
}

function writesOf(operation: string, body: AttributeMap, keyAttributes: KeyAttributes): WriteTarget[] {
  const tableName = stringOf(body.TableName) ?? '';
  switch (operation) {
    case 'PutItem':
      return [putTarget(tableName, objectOf(body.Item), keyAttributes)];
    case 'UpdateItem':
    case 'DeleteItem':
      return [targetOf(tableName, objectOf(body.Key))];
    case 'TransactWriteItems': {
      const items = Array.isArray(body.TransactItems) ? body.TransactItems : [];
      return items.flatMap((entry: unknown): WriteTarget[] => {
        const put = objectOf(objectOf(entry)?.Put);
        if (put) return [putTarget(stringOf(put.TableName) ?? '', objectOf(put.Item), keyAttributes)];
        // A ConditionCheck changes nothing, so only Update and Delete count besides Put.
        const change = objectOf(objectOf(entry)?.Update) ?? objectOf(objectOf(entry)?.Delete);
        return change ? [targetOf(stringOf(change.TableName) ?? '', objectOf(change.Key))] : [];
      });
    }
    case 'BatchWriteItem':
      return Object.entries(objectOf(body.RequestItems) ?? {}).flatMap(([table, requests]) =>
        (Array.isArray(requests) ? requests : []).flatMap((entry: unknown): WriteTarget[] => {
          const put = objectOf(objectOf(entry)?.PutRequest);
          if (put) return [putTarget(table, objectOf(put.Item), keyAttributes)];
          const remove = objectOf(objectOf(entry)?.DeleteRequest);
          return remove ? [targetOf(table, objectOf(remove.Key))] : [];
        }),
      );
    default:
      return [];
  }
}

function firstTableOf(body: AttributeMap, writes: readonly WriteTarget[]): string | undefined {
  const direct = stringOf(body.TableName) ?? writes[0]?.tableName;
  if (direct) return direct;
  const batch = Object.keys(objectOf(body.RequestItems) ?? {})[0];
  if (batch) return batch;
  const first = objectOf(Array.isArray(body.TransactItems) ? body.TransactItems[0] : undefined) ?? {};
  return stringOf(objectOf(Object.values(first)[0])?.TableName);
}

export function parseRequest(
  targetHeader: string | undefined,
  rawBody: Buffer,
  keyAttributes: KeyAttributes,
): ProxiedRequest {
  const operation = targetHeader?.slice(targetHeader.indexOf('.') + 1) ?? '';
  let body: AttributeMap = {};
  try {
    body = objectOf(JSON.parse(rawBody.toString('utf8'))) ?? {};
  } catch {
    // Not JSON: forwarded as it is, DynamoDB answers it; rules see an empty body.
  }
  const writes = writesOf(operation, body, keyAttributes);
  const key =
    objectOf(body.Key) ??
    (writes.length === 1 && WRITE_OPERATIONS.has(operation) ? writes[0]?.key : undefined);
  return { operation, tableName: firstTableOf(body, writes), key, writes, body };
}

/**
 * Whether DynamoDB applied a write, from its answer: 200 applied (for BatchWriteItem: the
 * batch was accepted; UnprocessedItems are not inspected), 4xx refused (a failed condition,
 * a cancelled transaction, a validation error), 5xx unknown. Undefined for reads.
 */
export function appliedBy(operation: string, status: number): boolean | undefined {
  if (!WRITE_OPERATIONS.has(operation)) return undefined;
  if (status >= 200 && status < 300) return true;
  if (status >= 400 && status < 500) return false;
  return undefined;
}

/** The answer DynamoDB gives a throttled request; the SDK reads the error name from `__type`. */
export function throttleAnswer(): { status: number; headers: Record<string, string>; body: string } {
  const body = JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message:
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
  });
  return {
    status: 400,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': randomUUID().replaceAll('-', '').toUpperCase(),
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  };
}

/**
 * A token bucket per item: capacity `perItemPerSecond`, refilled continuously at
 * `perItemPerSecond` tokens a second. A request is admitted only if every item it writes
 * has a token, and then takes one from each (a transaction is all or nothing; a batch is
 * refused whole, where DynamoDB would return the throttled part as UnprocessedItems).
 */
interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

export class WriteCeiling {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perItemPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perItemPerSecond > 0)) throw new Error('perItemPerSecond must be positive');
  }

  admit(writes: readonly WriteTarget[]): boolean {
    const at = this.now();
    const buckets = writes.map((write) => {
      const bucket: Bucket = this.buckets.get(write.itemId) ?? { tokens: this.perItemPerSecond, at };
      const refilled = bucket.tokens + ((at - bucket.at) / 1000) * this.perItemPerSecond;
      bucket.tokens = Math.min(this.perItemPerSecond, refilled);
      bucket.at = at;
      this.buckets.set(write.itemId, bucket);
      return bucket;
    });
    // Writes naming the same item twice need two tokens from it.
    const needed = new Map<Bucket, number>();
    for (const bucket of buckets) needed.set(bucket, (needed.get(bucket) ?? 0) + 1);
    for (const [bucket, count] of needed) if (bucket.tokens < count) return false;
    for (const bucket of buckets) bucket.tokens -= 1;
    return true;
  }
}
