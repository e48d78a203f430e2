/**
 * The verify write under late and lost answers (SPEC §5 "Exact under late answers",
 * docs/decisions/0011): the real authorizer, wired as functions/authorizer/handler.ts wires
 * it, talks to DynamoDB Local through the fault proxy, which delays, drops, hangs or
 * throttles the key's UpdateItem after (or, for a throttle, before) DynamoDB saw it. The
 * proxy's records say exactly which writes DynamoDB applied, answered or not, so each case
 * checks the arithmetic of the decision record:
 * - answers later than the old 1.5 s client limit but within the 4 s budget: admitted =
 *   min(N, L) exactly, usage_count = admitted, one write per call;
 * - answers lost (reset) or never given (past the budget): each such call is refused
 *   `unavailable`, admitted ≤ min(N, L), usage_count = admitted + the applied writes whose
 *   answer was lost (counted once, never twice);
 * - a throttle is retried and counted once; the budget holds whatever the remaining time;
 * - and, as the control, the SDK's default retry on the same late answers counts calls twice;
 * - a sharded key: each admitted call counts on one shard; the container that learnt the key
 *   read its shards, so each write goes to a shard with room and a call finding none waits
 *   for the pending answers rather than writing: admitted = min(N, L) exactly, no write
 *   bound to be refused; a lost answer is counted once, against the limit, never past it.
 *
 * Each authorizer is a warm container: it has seen its key once (an undelayed call), so
 * every call of the burst is one write. A ticking clock (1 ms per call, mid-hour) keeps
 * every call in one rate window and quota day, and gives every call its own `:now`, so a
 * retried send is recognisable as the same request.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createAuthorizer,
  decisionCounter,
  MAX_VERIFY_MS,
  verifyBudgetMs,
} from '../../functions/authorizer/authorize.js';
import { DynamoKeyVerificationStore } from '../../shared/adapters/dynamodb/key-verification-store.js';
import { createMetrics } from '../../shared/adapters/observability/metrics.js';
import type { BudgetSetting } from '../../shared/domain/budgets/admin.js';
import { micros } from '../../shared/domain/budgets/money.js';
import { generateKey, hashKey } from '../../shared/domain/keys/format.js';
import { type Quota, type RateLimit, windowStartOf } from '../../shared/domain/keys/limits.js';
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';
import { newShardItems, totalsOf } from '../../shared/domain/keys/shards.js';
import { createKeyVerifier } from '../../shared/domain/keys/verify.js';
import { AUTH_MESSAGES } from '../../shared/errors.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import {
  type DynamoDbProxy,
  type ProxiedRequest,
  type ProxyRule,
  seededRandom,
} from '../support/dynamodb-proxy.js';
import { authorizerEvent } from '../support/events.js';
import { expectOk, keyStoreFor, type TestKeyStore, uniqueUserId } from '../support/keystore.js';
import { clientPool, keyStringOf, startLateProxy } from '../support/late-answers.js';
import { silentLogger } from '../support/logs.js';

/** Parallel calls per burst, and the limit of the limited keys. */
const N = 40;
const L = 15;
/** Shards of the sharded key. */
const SHARDS = 8;
/** Past the old 1.5 s client limit, well within the 4 s verify budget. */
const LATE_MS = 1_800;
/** What the Lambda context reports at the start of an invocation (the authorizer's 5 s timeout). */
const REMAINING_MS = 5_000;
const BUDGET_MS = verifyBudgetMs(REMAINING_MS);
/** Scheduling slack around the budget on a loaded 2-core machine. */
const SLACK_MS = 400;

let tables: TestTables;
let proxy: DynamoDbProxy;
let keyStore: TestKeyStore;
let userId: string;
let pool: ReturnType<typeof clientPool>;

beforeAll(async () => {
  tables = await createTestTables('late-answers');
  proxy = await startLateProxy(tables);
  pool = clientPool(proxy);
  keyStore = keyStoreFor(tables);
  userId = uniqueUserId('late');
  expectOk(await keyStore.service.createUser({ userId, defaultProjectId: 'proj-late' }));
});

afterAll(async () => {
  await proxy?.close();
  await tables?.drop();
});

beforeEach(() => {
  proxy.clearRules();
  proxy.resetRecords();
});

afterEach(async () => {
  proxy.clearRules();
  await proxy.settled();
  pool.destroyAll();
});

type KeyKind = 'plain' | 'rate-limited' | 'quota' | 'budgeted';

const KINDS: Record<
  KeyKind,
  {
    limit?: number;
    counter?: 'rate_count' | 'quota_used';
    create: { rateLimit?: RateLimit; quota?: Quota; budget?: BudgetSetting };
  }
> = {
  plain: { create: {} },
  'rate-limited': {
    limit: L,
    counter: 'rate_count',
    create: { rateLimit: { limit: L, windowSeconds: 3600 } },
  },
  quota: { limit: L, counter: 'quota_used', create: { quota: { limit: L, period: 'day' } } },
  // The verify write is the same; its item carries the budget's fields, the admission names it.
  budgeted: { create: { budget: { limit: micros(50_000_000), period: 'day' } } },
};

/** The product's authorizer client (functions/authorizer/handler.ts), through the proxy. */
const authorizerClient = () =>
  pool.through({ connectionTimeoutMs: 500, requestTimeoutMs: MAX_VERIFY_MS, maxAttempts: 2 });

/** 1 ms per call from the middle of the current hour: one rate window, one quota day, a distinct `:now` each. */
function tickingClock(): () => Date {
  const start = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_800_000;
  let calls = 0;
  return () => new Date(start + calls++);
}

interface WarmKey {
  apiKey: string;
  keyHash: string;
  authorize: ReturnType<typeof createAuthorizer>;
}

/** A new key of `kind`, and an authorizer (a container) on `client` that has seen it once, undelayed. */
async function warmKey(kind: KeyKind, client: DynamoDBDocumentClient = authorizerClient()): Promise<WarmKey> {
  const created = expectOk(await keyStore.service.createKey({ userId, ...KINDS[kind].create }));
  const authorize = createAuthorizer({
    keys: createKeyVerifier({
      keys: new DynamoKeyVerificationStore(client, tables.names.apiKeys),
      environment: 'test',
      clock: tickingClock(),
    }),
    logger: silentLogger,
    countDecision: decisionCounter(createMetrics('late-answers-test')),
  });
  const key = { apiKey: created.apiKey, keyHash: hashKey(created.apiKey), authorize };
  const first = await call(key);
  expect(first.decision, 'the warm-up call').toBe('admitted');
  await proxy.settled();
  proxy.resetRecords();
  return key;
}

/** This key's verify writes: an UpdateItem on ApiKeys naming its hash. */
function isVerifyOf(keyHash: string) {
  return (request: ProxiedRequest) =>
    request.operation === 'UpdateItem' &&
    request.tableName === tables.names.apiKeys &&
    keyStringOf(request, 'key_hash') === keyHash;
}

type Decision = 'admitted' | 'limited' | `denied:${string}`;

interface Call {
  decision: Decision;
  ms: number;
  result: APIGatewayAuthorizerResult;
}

/** Admitted: an Allow without a limit refusal; limited: an Allow carrying one (answered 429 later). */
function decisionOf(result: APIGatewayAuthorizerResult): Decision {
  if (result.policyDocument.Statement[0]?.Effect === 'Allow')
    return result.context?.limited ? 'limited' : 'admitted';
  return `denied:${String(result.context?.reason)}`;
}

async function call(key: WarmKey, remainingMs = REMAINING_MS): Promise<Call> {
  const started = performance.now();
  const result = await key.authorize(authorizerEvent({ Authorization: `Bearer ${key.apiKey}` }), remainingMs);
  return { decision: decisionOf(result), ms: performance.now() - started, result };
}

async function burst(key: WarmKey): Promise<Call[]> {
  const calls = await Promise.all(Array.from({ length: N }, () => call(key)));
  await proxy.settled();
  return calls;
}

const countOf = (calls: readonly Call[], decision: Decision) =>
  calls.filter((entry) => entry.decision === decision).length;

async function itemOf(key: WarmKey): Promise<ApiKeyItem> {
  const { Item } = await tables.doc.send(
    new GetCommand({ TableName: tables.names.apiKeys, Key: { key_hash: key.keyHash }, ConsistentRead: true }),
  );
  if (!Item) throw new Error('the key item is gone');
  return Item as ApiKeyItem;
}

/** The most calls a key admits in all (the warm-up's included): min(calls, L). */
const mostAdmitted = (kind: KeyKind) => Math.min(1 + N, KINDS[kind].limit ?? Number.POSITIVE_INFINITY);

describe(`${N} parallel calls on one key, every verify answer later than the old 1.5 s limit`, () => {
  it.each([
    ['plain', 'every answer'],
    ['rate-limited', 'every answer'],
    ['quota', 'every answer'],
    ['budgeted', 'every answer'],
    ['plain', 'a seeded half of the answers'],
    ['rate-limited', 'a seeded half of the answers'],
  ] as const)(
    '%s key, %s delayed: admitted = min(N, L) exactly, usage_count = admitted, one write per call',
    async (kind, share) => {
      const key = await warmKey(kind);
      proxy.setRules([
        {
          action: 'delay',
          ms: LATE_MS,
          match: isVerifyOf(key.keyHash),
          ...(share === 'every answer' ? {} : { probability: 0.5 }),
        },
      ]);

      const calls = await burst(key);

      const admitted = 1 + countOf(calls, 'admitted');
      const item = await itemOf(key);
      const stats = proxy.stats();
      expect(admitted).toBe(mostAdmitted(kind));
      expect(countOf(calls, 'limited')).toBe(1 + N - admitted);
      expect(item.usage_count).toBe(admitted);
      const counter = KINDS[kind].counter;
      if (counter) expect(item[counter]).toBe(admitted);
      // No write repeated, none applied without its answer arriving: each call wrote once.
      expect(stats).toMatchObject({ requests: N, appliedWrites: admitted - 1, appliedUnanswered: 0 });
      if (share === 'every answer') {
        expect(stats.byOutcome.delayed).toBe(N);
        expect(Math.min(...calls.map((entry) => entry.ms))).toBeGreaterThanOrEqual(LATE_MS);
      } else {
        expect(stats.byOutcome.delayed).toBeGreaterThan(0);
        expect(stats.byOutcome.delayed).toBeLessThan(N);
        expect(Math.max(...calls.map((entry) => entry.ms))).toBeGreaterThanOrEqual(LATE_MS);
      }
      expect(Math.max(...calls.map((entry) => entry.ms))).toBeLessThan(BUDGET_MS);
      if (kind === 'budgeted') {
        for (const entry of calls)
          expect(JSON.parse(String(entry.result.context?.budget))).toHaveProperty('budgetId');
      }
    },
  );
});

describe(`${N} parallel calls on one key, some verify answers lost (reset) and some never given`, () => {
  const LOSSES: ProxyRule[] = [
    { action: 'drop', probability: 0.2 },
    { action: 'hang', probability: 0.2 },
  ];

  it.each(['plain', 'rate-limited', 'quota', 'budgeted'] as const)(
    '%s key: each lost answer is refused `unavailable` in time, counted once, never admitted',
    async (kind) => {
      const key = await warmKey(kind);
      proxy.setRules(LOSSES.map((rule) => ({ ...rule, match: isVerifyOf(key.keyHash) })));

      const calls = await burst(key);

      const admitted = 1 + countOf(calls, 'admitted');
      const item = await itemOf(key);
      const stats = proxy.stats();
      const { dropped, hung } = stats.byOutcome;
      expect(dropped).toBeGreaterThan(0);
      expect(hung).toBeGreaterThan(0);
      expect(stats.requests).toBe(N);
      // Every call whose answer was lost, and no other, is refused: our Deny, never an Allow.
      expect(countOf(calls, 'denied:unavailable')).toBe(dropped + hung);
      for (const entry of calls.filter((each) => each.decision === 'denied:unavailable')) {
        expect(entry.result.context).toEqual({
          reason: 'unavailable',
          message: AUTH_MESSAGES.unavailable,
          shouldRetry: 'true',
          body: expect.stringContaining('"code":"unauthorized"'),
        });
      }
      expect(1 + countOf(calls, 'admitted') + countOf(calls, 'limited') + dropped + hung).toBe(1 + N);
      expect(admitted).toBeLessThanOrEqual(mostAdmitted(kind));
      // Counted once: the admitted calls and the applied writes whose answer was lost, nothing else.
      expect(item.usage_count).toBe(admitted + stats.appliedUnanswered);
      expect(stats.appliedWrites - stats.appliedUnanswered).toBe(admitted - 1);
      const counter = KINDS[kind].counter;
      if (counter) {
        // Each applied write counts against the limit, answered or not: the limit is reached, never passed.
        expect(item[counter]).toBe(L);
        expect(item.usage_count).toBe(L);
      } else {
        expect(stats.appliedUnanswered).toBe(dropped + hung);
        expect(item.usage_count).toBe(1 + N);
      }
      // A hung write is waited for until the budget ends, then refused before the Lambda timeout.
      const slow = calls.filter((entry) => entry.ms >= BUDGET_MS / 2);
      expect(slow).toHaveLength(hung);
      for (const entry of slow) expect(entry.ms).toBeGreaterThanOrEqual(BUDGET_MS - 5);
      expect(Math.max(...calls.map((entry) => entry.ms))).toBeLessThan(BUDGET_MS + SLACK_MS);
    },
  );
});

describe('a throttled verify write', () => {
  /** Refuses the first send of every call (each call's `:now` is its own; a retry sends the same body). */
  function firstSendsOf(keyHash: string) {
    const seen = new Set<string>();
    const isVerify = isVerifyOf(keyHash);
    return (request: ProxiedRequest) => {
      if (!isVerify(request)) return false;
      const body = JSON.stringify(request.body);
      if (seen.has(body)) return false;
      seen.add(body);
      return true;
    };
  }

  it.each(['plain', 'rate-limited'] as const)(
    '%s key: each call throttled on its first send is retried once, admitted and counted once',
    async (kind) => {
      const key = await warmKey(kind);
      proxy.setRules([{ action: 'refuse-before', match: firstSendsOf(key.keyHash) }]);

      const calls = await burst(key);

      const admitted = 1 + countOf(calls, 'admitted');
      const item = await itemOf(key);
      expect(admitted).toBe(mostAdmitted(kind));
      expect(countOf(calls, 'limited')).toBe(1 + N - admitted);
      expect(item.usage_count).toBe(admitted);
      expect(proxy.stats()).toMatchObject({
        requests: 2 * N,
        byOutcome: { refused: N, forwarded: N },
        appliedWrites: admitted - 1,
        appliedUnanswered: 0,
      });
    },
  );
});

describe('the time budget', () => {
  it.each([
    [REMAINING_MS, 'the full 4 s budget'],
    [1_500, 'what is left minus the 750 ms answer margin'],
  ])(
    'with %i ms left and the answer never coming, refuses `unavailable` after %s, never throwing',
    async (remainingMs) => {
      const key = await warmKey('plain');
      proxy.setRules([{ action: 'hang', match: isVerifyOf(key.keyHash) }]);
      const budget = verifyBudgetMs(remainingMs);

      const refused = await call(key, remainingMs);
      await proxy.settled();

      expect(refused.result.context).toEqual({
        reason: 'unavailable',
        message: AUTH_MESSAGES.unavailable,
        shouldRetry: 'true',
        body: expect.stringContaining('"code":"unauthorized"'),
      });
      expect(refused.result.policyDocument.Statement[0]?.Effect).toBe('Deny');
      expect(refused.ms).toBeGreaterThanOrEqual(budget - 5);
      expect(refused.ms).toBeLessThan(budget + SLACK_MS);
      expect(refused.ms).toBeLessThan(remainingMs);
      // The hung write was applied: counted once, not admitted, and not sent again.
      expect(proxy.stats()).toMatchObject({ requests: 1, appliedWrites: 1, appliedUnanswered: 1 });
      expect((await itemOf(key)).usage_count).toBe(2);
    },
  );
});

describe('control: the SDK default retry on the same late answers', () => {
  it('counts calls twice (usage_count above the calls admitted), where the authorizer client counts each once', async () => {
    // What keygate had before decision 0011: a 1.5 s time limit and the SDK's standard retry of a timeout.
    const retrying = pool.adopt(
      DynamoDBDocumentClient.from(
        new DynamoDBClient({
          endpoint: proxy.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          maxAttempts: 3,
          requestHandler: new NodeHttpHandler({ requestTimeout: 1_500, throwOnRequestTimeout: true }),
        }),
      ),
    );
    const outcomes = [];
    for (const client of [retrying, authorizerClient()]) {
      const key = await warmKey('plain', client);
      proxy.setRules([{ action: 'delay', ms: LATE_MS, match: isVerifyOf(key.keyHash), probability: 0.5 }]);
      const calls = await burst(key);
      outcomes.push({
        admitted: 1 + countOf(calls, 'admitted'),
        usage: (await itemOf(key)).usage_count,
        stats: proxy.stats(),
      });
      proxy.clearRules();
      proxy.resetRecords();
    }
    const [blind, exact] = outcomes as [(typeof outcomes)[0], (typeof outcomes)[0]];

    // The same seeded delays hit both: the blind retry re-applied every write answered late.
    expect(blind.stats.requests).toBeGreaterThan(N);
    expect(blind.stats.appliedUnanswered).toBeGreaterThan(0);
    expect(blind.usage).toBe(blind.admitted + blind.stats.appliedUnanswered);
    expect(blind.usage).toBeGreaterThan(blind.admitted);
    expect(blind.admitted).toBeGreaterThan(1);
    expect(exact.stats.byOutcome.delayed).toBeGreaterThan(0);
    expect(exact).toMatchObject({
      admitted: 1 + N,
      usage: 1 + N,
      stats: { requests: N, appliedUnanswered: 0 },
    });
  });
});

describe(`a sharded key (${SHARDS} shards) under late and lost answers`, () => {
  interface WarmShardedKey extends WarmKey {
    /** The rate window the burst counts in (epoch seconds). */
    window: number;
  }

  /** Verify writes on the key's own item or any of its shards. */
  function isShardedVerifyOf(keyHash: string) {
    return (request: ProxiedRequest) => {
      const target = keyStringOf(request, 'key_hash');
      return (
        request.operation === 'UpdateItem' &&
        request.tableName === tables.names.apiKeys &&
        target !== undefined &&
        (target === keyHash || target.startsWith(`${keyHash}#`))
      );
    };
  }

  async function countsOf(keyHash: string, window: number) {
    const shards = await keyStore.keys.findShards(keyHash, SHARDS);
    const head = (await keyStore.keys.findByHash(keyHash)) as ApiKeyItem;
    return {
      usage: totalsOf(head, shards).usageCount,
      /** What the shards counted in `window`. */
      rate: shards.reduce(
        (sum, shard) => sum + (shard.rate_window_start === window ? (shard.rate_count ?? 0) : 0),
        0,
      ),
      headUsage: head.usage_count,
    };
  }

  /**
   * A key created with its shard items as keys-admin creates one (rate limit L an hour when
   * `limited`), and an authorizer (a container) that has seen it once, undelayed: it knows the
   * shard count, so a call's first write goes to a shard.
   */
  async function warmShardedKey(limited: boolean): Promise<WarmShardedKey> {
    const { key: apiKey, hash, start } = generateKey('test');
    const head: ApiKeyItem = {
      key_hash: hash,
      hash_version: 1,
      key_id: `key_${hash.slice(0, 12)}`,
      user_id: userId,
      project_id: 'proj-late',
      status: 'active',
      start,
      created_at: new Date().toISOString(),
      usage_count: 0,
      shards: SHARDS,
      ...(limited ? { rate_limit: L, rate_window: 3600 } : {}),
    };
    await keyStore.keys.create(head, undefined, newShardItems(head, SHARDS));
    const clock = tickingClock();
    const authorize = createAuthorizer({
      keys: createKeyVerifier({
        keys: new DynamoKeyVerificationStore(authorizerClient(), tables.names.apiKeys),
        environment: 'test',
        clock,
        random: seededRandom(23),
      }),
      logger: silentLogger,
      countDecision: decisionCounter(createMetrics('late-answers-test')),
    });
    const key = { apiKey, keyHash: hash, authorize };
    const first = await call(key);
    expect(first.decision, 'the warm-up call').toBe('admitted');
    await proxy.settled();
    proxy.resetRecords();
    return { ...key, window: windowStartOf(clock(), 3600) };
  }

  it('every answer delayed 1.8 s, no limits: all admitted, each counted on exactly one shard, one write per call', async () => {
    const key = await warmShardedKey(false);
    proxy.setRules([{ action: 'delay', ms: LATE_MS, match: isShardedVerifyOf(key.keyHash) }]);

    const calls = await burst(key);

    const counts = await countsOf(key.keyHash, key.window);
    expect(countOf(calls, 'admitted')).toBe(N);
    expect(counts).toMatchObject({ usage: 1 + N, headUsage: 0 });
    expect(proxy.stats()).toMatchObject({ requests: N, appliedWrites: N, appliedUnanswered: 0 });
    expect(new Set(proxy.records.map((record) => keyStringOf(record, 'key_hash'))).has(key.keyHash)).toBe(
      false,
    );
    expect(Math.min(...calls.map((entry) => entry.ms))).toBeGreaterThanOrEqual(LATE_MS);
    expect(Math.max(...calls.map((entry) => entry.ms))).toBeLessThan(BUDGET_MS);
  });

  it('every answer delayed 1.8 s, rate limit L: admitted = min(N, L) exactly, usage = admitted, no write bound to be refused', async () => {
    const key = await warmShardedKey(true);
    proxy.setRules([{ action: 'delay', ms: LATE_MS, match: isShardedVerifyOf(key.keyHash) }]);

    const calls = await burst(key);

    // The warm-up call is the first of the window's L.
    const admitted = 1 + countOf(calls, 'admitted');
    const counts = await countsOf(key.keyHash, key.window);
    const stats = proxy.stats();
    expect(admitted).toBe(Math.min(N + 1, L));
    expect(countOf(calls, 'limited')).toBe(N + 1 - L);
    expect(countOf(calls, 'denied:unavailable')).toBe(0);
    expect(counts).toMatchObject({ usage: admitted, rate: admitted, headUsage: 0 });
    // The container read its shards when it learnt the key: every write goes where there is
    // room, a call with none waits for the pending answers instead of writing.
    expect(stats).toMatchObject({ appliedWrites: admitted - 1, appliedUnanswered: 0 });
    expect(stats.requests).toBe(admitted - 1);
    expect(Math.max(...calls.map((entry) => entry.ms))).toBeLessThan(BUDGET_MS + SLACK_MS);
  });

  it('a seeded 30 % of answers lost (reset), rate limit L: each refused `unavailable`, Σ usage = admitted + applied-unanswered', async () => {
    const key = await warmShardedKey(true);
    proxy.setRules([{ action: 'drop', probability: 0.3, match: isShardedVerifyOf(key.keyHash) }]);

    const calls = await burst(key);

    const admitted = 1 + countOf(calls, 'admitted');
    const counts = await countsOf(key.keyHash, key.window);
    const stats = proxy.stats();
    expect(stats.byOutcome.dropped).toBeGreaterThan(0);
    // A dropped write is its call's last: never re-sent, so each drop is one refused call.
    expect(countOf(calls, 'denied:unavailable')).toBe(stats.byOutcome.dropped);
    for (const entry of calls.filter((each) => each.decision === 'denied:unavailable')) {
      expect(entry.result.context).toEqual({
        reason: 'unavailable',
        message: AUTH_MESSAGES.unavailable,
        shouldRetry: 'true',
        body: expect.stringContaining('"code":"unauthorized"'),
      });
    }
    expect(countOf(calls, 'admitted') + countOf(calls, 'limited') + stats.byOutcome.dropped).toBe(N);
    expect(admitted).toBeLessThanOrEqual(L);
    expect(counts.usage).toBe(admitted + stats.appliedUnanswered);
    expect(counts.rate).toBe(counts.usage);
    expect(counts.rate).toBeLessThanOrEqual(L);
    expect(stats.appliedWrites - stats.appliedUnanswered).toBe(admitted - 1);
  });
});
