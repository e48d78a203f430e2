/**
 * A fault-injecting HTTP proxy in front of DynamoDB (Local), on loopback. An SDK client
 * pointed at `endpoint` talks to DynamoDB through it; rules make chosen calls lose their
 * answer after DynamoDB applied them (`delay` past the client's time limit, `drop`, `hang`)
 * or refuse them before DynamoDB sees them (`refuse-before`), and an optional per-item
 * write-rate ceiling throttles hot items the way real DynamoDB does. Every call is
 * recorded with what DynamoDB answered, so a test can count exactly the writes that were
 * applied without the client ever learning it. Node built-ins only: the bench imports it too.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AttributeMap,
  appliedBy,
  type KeyAttributes,
  type ProxiedRequest,
  parseRequest,
  throttleAnswer,
  WriteCeiling,
  type WriteTarget,
} from './dynamodb-wire.js';

export type { AttributeMap, KeyAttributes, ProxiedRequest, WriteTarget };

/**
 * - `delay`: forward, wait `ms` after DynamoDB answered, then pass the answer on;
 * - `drop`: forward, then reset the client's connection instead of answering (ECONNRESET);
 * - `hang`: forward, then never answer (the connection stays open until the client gives up or `close()`);
 * - `refuse-before`: answer with DynamoDB's throttle error without forwarding (nothing applied).
 */
export type ProxyAction =
  | { action: 'delay'; ms: number }
  | { action: 'drop' }
  | { action: 'hang' }
  | { action: 'refuse-before' };

/** A rule applies to requests matching every filter given; the first applicable rule in the list wins. */
export type ProxyRule = ProxyAction & {
  operation?: string | readonly string[];
  tableName?: string;
  match?: (request: ProxiedRequest) => boolean;
  /** Apply to the next N matching requests, then never again; every one if omitted. */
  times?: number;
  /** Chance (0..1) that a matching request is affected, from the proxy's seeded generator. */
  probability?: number;
};

export type ProxyOutcome =
  | 'forwarded'
  | 'delayed'
  | 'dropped'
  | 'hung'
  | 'throttled'
  | 'refused'
  | 'upstream-failed';

export interface ProxyRecord {
  operation: string;
  tableName: string | undefined;
  key: AttributeMap | undefined;
  writes: readonly WriteTarget[];
  outcome: ProxyOutcome;
  /** DynamoDB's answer status, once it answered a forwarded request. */
  status?: number;
  /** For a forwarded write: DynamoDB applied it (200) or refused it (4xx); see `appliedBy`. */
  applied?: boolean;
  /** Whether the client received an answer; set once the proxy answered, dropped or hung the request. */
  answered?: boolean;
}

export interface ProxyStats {
  requests: number;
  byOutcome: Record<ProxyOutcome, number>;
  /** Writes DynamoDB applied. */
  appliedWrites: number;
  /** Applied writes whose answer the client never received: those a blind retry repeats. */
  appliedUnanswered: number;
}

export interface ProxyOptions {
  /** DynamoDB's endpoint, e.g. `http://127.0.0.1:8000`. */
  target: string;
  rules?: readonly ProxyRule[];
  writeCeiling?: { perItemPerSecond: number };
  /**
   * Key attribute names per table. A PutItem's item is identified by these attributes of
   * its `Item`; on a table not listed here, by the whole Item (so puts of the same key with
   * different attributes count as different items for the ceiling, and `key` is undefined).
   */
  keyAttributes?: KeyAttributes;
  /** Seed of the generator behind `probability`; reseeded on every `setRules`. Default 1. */
  seed?: number;
}

export interface DynamoDbProxy {
  endpoint: string;
  setRules(rules: readonly ProxyRule[]): void;
  clearRules(): void;
  setWriteCeiling(ceiling: { perItemPerSecond: number } | undefined): void;
  /** Every request received since the start or the last `resetRecords`, in arrival order. */
  readonly records: readonly ProxyRecord[];
  stats(): ProxyStats;
  resetRecords(): void;
  /** Resolves once every request received so far has been answered, dropped or hung, and DynamoDB answered it. */
  settled(): Promise<void>;
  /** Ends every connection (hung ones too), pending delays and the server. */
  close(): Promise<void>;
}

interface UpstreamAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'];

function withoutHopByHop(headers: http.IncomingHttpHeaders, body: Buffer): http.OutgoingHttpHeaders {
  const copy: http.OutgoingHttpHeaders = { ...headers, 'content-length': String(body.length) };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    // A client that disconnects mid-body never ends the stream (a no-op after 'end').
    stream.on('close', () => reject(new Error('connection closed before the body ended')));
  });
}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OUTCOME_OF: Record<Exclude<ProxyAction['action'], 'refuse-before'>, ProxyOutcome> = {
  delay: 'delayed',
  drop: 'dropped',
  hang: 'hung',
};

export async function startDynamoDbProxy(options: ProxyOptions): Promise<DynamoDbProxy> {
  const target = new URL(options.target);
  const agent = new http.Agent({ keepAlive: true });
  const keyAttributes = options.keyAttributes ?? {};
  let rules: { rule: ProxyRule; remaining: number }[] = [];
  let random = seededRandom(options.seed ?? 1);
  let ceiling = options.writeCeiling ? new WriteCeiling(options.writeCeiling.perItemPerSecond) : undefined;
  let records: ProxyRecord[] = [];
  const inFlight = new Set<Promise<void>>();
  /** Pending `delay` answers, each with the function that ends its wait early (on close). */
  const delays = new Map<NodeJS.Timeout, () => void>();

  const setRules = (next: readonly ProxyRule[]) => {
    rules = next.map((rule) => ({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY }));
    random = seededRandom(options.seed ?? 1);
  };
  setRules(options.rules ?? []);

  /** The first rule matching the request whose coin lands; its `times` is spent only when it is applied. */
  const ruleFor = (request: ProxiedRequest) =>
    rules.find(({ rule, remaining }) => {
      if (remaining <= 0) return false;
      const operations = typeof rule.operation === 'string' ? [rule.operation] : rule.operation;
      if (operations && !operations.includes(request.operation)) return false;
      if (rule.tableName !== undefined && rule.tableName !== request.tableName) return false;
      if (rule.match && !rule.match(request)) return false;
      return rule.probability === undefined || random() < rule.probability;
    });

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<UpstreamAnswer> =>
    new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          // The SDK signed the proxy's host; DynamoDB Local does not check signatures, and a
          // Host naming the target keeps anything that reads it consistent.
          headers: { ...withoutHopByHop(req.headers, body), host: target.host },
          agent,
        },
        (answer) => {
          readAll(answer).then(
            (answerBody) =>
              resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: answerBody }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  const answer = (res: http.ServerResponse, record: ProxyRecord, reply: UpstreamAnswer) => {
    // A client that gave up (its time limit passed) closed the connection: the answer is lost.
    if (res.socket === null || res.socket.destroyed) {
      record.answered = false;
      return;
    }
    res.writeHead(reply.status, withoutHopByHop(reply.headers, reply.body));
    res.end(reply.body);
    record.answered = true;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const body = await readAll(req);
    const request = parseRequest(req.headers['x-amz-target']?.toString(), body, keyAttributes);
    const { operation, tableName, key, writes } = request;
    const chosen = ruleFor(request);
    const refuse = chosen?.rule.action === 'refuse-before';
    const throttle = !refuse && ceiling !== undefined && writes.length > 0 && !ceiling.admit(writes);
    if (chosen && !throttle) chosen.remaining -= 1;
    const action = throttle ? undefined : chosen?.rule;
    const outcome: ProxyOutcome = throttle
      ? 'throttled'
      : action === undefined
        ? 'forwarded'
        : action.action === 'refuse-before'
          ? 'refused'
          : OUTCOME_OF[action.action];
    const record: ProxyRecord = { operation, tableName, key, writes, outcome };
    records.push(record);
    if (outcome === 'throttled' || outcome === 'refused') {
      const { status, headers, body: text } = throttleAnswer();
      answer(res, record, { status, headers, body: Buffer.from(text) });
      return;
    }
    let reply: UpstreamAnswer;
    try {
      reply = await forward(req, body);
    } catch {
      record.outcome = 'upstream-failed';
      record.answered = false;
      req.socket.destroy();
      return;
    }
    record.status = reply.status;
    const applied = appliedBy(operation, reply.status);
    if (applied !== undefined) record.applied = applied;
    if (action === undefined || action.action === 'refuse-before') return answer(res, record, reply);
    if (action.action === 'drop') {
      record.answered = false;
      req.socket.resetAndDestroy();
      return;
    }
    if (action.action === 'hang') {
      record.answered = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        delays.delete(timer);
        answer(res, record, reply);
        resolve();
      }, action.ms);
      delays.set(timer, () => {
        record.answered = false;
        resolve();
      });
    });
  };

  const server = http.createServer((req, res) => {
    const done = handle(req, res)
      .catch(() => {
        req.socket.destroy();
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  });
  // Node closes idle keep-alive connections after 5 s by default, and an SDK client reusing
  // one just as it closes sees ECONNRESET: a fault nobody injected.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    setRules,
    clearRules: () => setRules([]),
    setWriteCeiling: (next) => {
      ceiling = next ? new WriteCeiling(next.perItemPerSecond) : undefined;
    },
    get records() {
      return records;
    },
    stats() {
      const byOutcome: Record<ProxyOutcome, number> = {
        forwarded: 0,
        delayed: 0,
        dropped: 0,
        hung: 0,
        throttled: 0,
        refused: 0,
        'upstream-failed': 0,
      };
      for (const record of records) byOutcome[record.outcome] += 1;
      const applied = records.filter((record) => record.applied === true);
      return {
        requests: records.length,
        byOutcome,
        appliedWrites: applied.length,
        appliedUnanswered: applied.filter((record) => record.answered === false).length,
      };
    },
    resetRecords: () => {
      records = [];
    },
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    async close() {
      for (const [timer, abandon] of delays) {
        clearTimeout(timer);
        abandon();
      }
      delays.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
