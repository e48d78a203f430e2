/**
 * Hot keys (SPEC §5 "Hot keys", §9 v3; docs/decisions/0012-sharded-keys.md), side by side in
 * one run: DynamoDB Local behind the fault proxy (tests/support/dynamodb-proxy.ts) with a
 * scaled-down per-item write ceiling (`ceiling` writes/s per item, more answered
 * ProvisionedThroughputExceededException and not applied, as a hot partition answers). Keys
 * are created by the key service as keys-admin creates them; calls go through the real
 * authorizer (functions/authorizer/authorize.ts, the verifier and verify write on a document
 * client configured as the authorizer's) from a pool of warm containers, each taking one call
 * at a time as a Lambda container does. Offered load is paced (open loop): a call that finds
 * every container busy is shed, as Lambda's concurrency limit would.
 *
 * - hot: an unsharded key and a key with 16 shards, the same offered load (above 16× the
 *   ceiling) for the same time: admitted per second and their ratio;
 * - below its limits: the sharded key with a rate limit far above the load, offered half its
 *   shards' ceiling: DynamoDB calls per admitted request;
 * - over its limit: a sharded key with a rate limit L that the load exceeds: exactly L admitted;
 * - every key's usage (head + shards, read by the key service) equals the calls it admitted.
 * DynamoDB calls are the requests the proxy saw while one key was driven (only it is).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createAuthorizer, decisionCounter, MAX_VERIFY_MS } from '../functions/authorizer/authorize.js';
import { createTables, localDynamoClient, startDynamoDbLocal } from '../local/dynamodb.js';
import { createDocumentClient } from '../shared/adapters/aws-clients.js';
import { DynamoKeyVerificationStore } from '../shared/adapters/dynamodb/key-verification-store.js';
import { tableNamesFor } from '../shared/adapters/dynamodb/tables.js';
import { createMetrics } from '../shared/adapters/observability/metrics.js';
import { windowStartOf } from '../shared/domain/keys/limits.js';
import type { KeyService } from '../shared/domain/keys/service.js';
import { createKeyVerifier } from '../shared/domain/keys/verify.js';
import { type DynamoDbProxy, startDynamoDbProxy } from '../tests/support/dynamodb-proxy.js';
import { createKeyServiceFor } from '../tests/support/keystore.js';
import { authorizerEventFor } from './lib/authorizer-event.js';
import { round, type Summary, summarize } from './lib/stats.js';

/** A threshold of SPEC §9 and whether this run met it. */
export interface HotKeysCheck {
  name: string;
  target: string;
  value: number;
  ok: boolean;
}

/** One key driven at a paced offered load for a fixed time. */
export interface LoadPhase {
  shards: number;
  /** The key's rate limit (calls per window), null without one. */
  rate_limit: number | null;
  offered_per_second: number;
  seconds: number;
  /** Calls due in the phase; `shed` of them found every container busy and were not sent. */
  offered: number;
  shed: number;
  /** Calls sent and admitted (answered in the phase or after it). */
  admitted: number;
  /**
   * The others by the authorizer's reason: `rate_limited` (an Allow carrying the limit, answered
   * 429 downstream), `unavailable` (the write could not be made: a throttled unsharded item fails closed).
   */
  refused: Record<string, number>;
  /** Admitted calls answered within the phase's time, per second of it. */
  admitted_per_second: number;
  /** Requests the proxy saw in the phase (every attempt, reads included), and what they were. */
  dynamodb_calls: number;
  calls: {
    /** Writes DynamoDB applied: one per admitted call, plus those applied after their call gave up. */
    applied_writes: number;
    /** Applied writes whose answer came after the caller's time budget ended (counted, not admitted). */
    applied_unanswered: number;
    /** Writes DynamoDB refused on their condition (a plan corrected, a spent shard, a refusal). */
    refused_writes: number;
    /** Writes the ceiling answered ProvisionedThroughputExceededException (not applied). */
    throttled_writes: number;
    /** Reads (a container learning a sharded key's shards). */
    reads: number;
  };
  calls_per_admitted: number;
  /** Time to an admitting answer. */
  admitted_latency: Summary;
}

/** A key's admitted calls (warm-up included) against its usage as the key service reads it. */
export interface KeyCount {
  key: string;
  shards: number;
  admitted: number;
  usage_count: number;
  /** `keyUsage`'s count in the current rate window (keys with a rate limit; every call fell in it). */
  window_used?: number;
}

export interface HotKeysBenchResult {
  write_ceiling_per_item: number;
  shards: number;
  containers: number;
  /** The unsharded key and the 16-shard key at the same offered load. */
  unsharded: LoadPhase;
  sharded: LoadPhase;
  /** Sharded admitted/s ÷ unsharded admitted/s. */
  ratio: number;
  /** The sharded key below its limits (rate limit far above the load, half its shards' ceiling offered). */
  below_limit: LoadPhase;
  /** A sharded key with a rate limit the load exceeds. */
  over_limit: LoadPhase & { limit: number; window_seconds: number };
  counts: KeyCount[];
  checks: HotKeysCheck[];
}

export interface HotKeysOptions {
  /** Writes per second one item takes (the proxy's ceiling). */
  ceiling?: number;
  /** Seconds each key is driven. */
  seconds?: number;
  /** Warm containers (one call at a time each). */
  containers?: number;
}

const SHARDS = 16;
const USER_ID = 'bench-hot-user';
/** Offered load of the hot phase, in item ceilings: above what 16 shards take. */
const HOT_LOAD = 20;
/** Offered load below the limits: half of what 16 shards take. */
const BELOW_LOAD = SHARDS / 2;
/** A rate limit the load never reaches. */
const FAR_ABOVE = 1_000_000_000;
const LIMITED_WINDOW_SECONDS = 3600;

const SILENT = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** `admitted`, a limit's reason (an Allow carrying it, answered 429 downstream) or the Deny's reason. */
function outcomeOf(result: APIGatewayAuthorizerResult): string {
  const effect = (result.policyDocument.Statement[0] as { Effect?: string } | undefined)?.Effect;
  const context = result.context ?? {};
  if (effect === 'Allow') return context.limited ? String(context.limited) : 'admitted';
  return String(context.reason ?? 'denied');
}

type Authorize = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

/**
 * One authorizer container: its own DynamoDB client, configured as functions/authorizer/handler.ts
 * configures it, and its own verifier (its memory of shard counts, limits and spent shards).
 */
function containerOn(endpoint: string, tableName: string): Authorize {
  const client = createDocumentClient({
    endpoint,
    connectionTimeoutMs: 500,
    requestTimeoutMs: MAX_VERIFY_MS,
    maxAttempts: 2,
  });
  const authorize = createAuthorizer({
    keys: createKeyVerifier({ keys: new DynamoKeyVerificationStore(client, tableName), environment: 'test' }),
    // Its refusals' log lines (one per failed-closed call) would flood the bench's stderr.
    logger: SILENT,
    countDecision: decisionCounter(createMetrics('authorizer')),
  });
  return (event) => authorize(event);
}

interface BenchKey {
  name: string;
  apiKey: string;
  keyId: string;
  shards: number;
  rateLimit: number | null;
  admitted: number;
}

async function createBenchKey(
  service: KeyService,
  name: string,
  shards: number,
  rateLimit?: { limit: number; windowSeconds: number },
): Promise<BenchKey> {
  const created = await service.createKey({
    userId: USER_ID,
    name,
    shards,
    ...(rateLimit ? { rateLimit } : {}),
  });
  if (!created.ok) throw new Error(`bench key ${name} not created: ${created.error.message}`);
  return {
    name,
    apiKey: created.apiKey,
    keyId: created.key.keyId,
    shards,
    rateLimit: rateLimit?.limit ?? null,
    admitted: 0,
  };
}

/** Drives `key` at `perSecond` calls for `seconds` through the idle containers of `pool`. */
async function drive(
  proxy: DynamoDbProxy,
  pool: readonly Authorize[],
  key: BenchKey,
  perSecond: number,
  seconds: number,
): Promise<LoadPhase> {
  const event = authorizerEventFor(key.apiKey);
  const idle = [...pool];
  const outcomes = new Map<string, number>();
  const admittedMs: number[] = [];
  const pending = new Set<Promise<void>>();
  const durationMs = seconds * 1000;
  let offered = 0;
  let shed = 0;
  let admittedInTime = 0;
  proxy.resetRecords();
  const started = performance.now();
  const send = (authorize: Authorize) => {
    const sent = performance.now();
    const call = authorize(event)
      .then((result) => {
        const outcome = outcomeOf(result);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome !== 'admitted') return;
        const answered = performance.now();
        admittedMs.push(answered - sent);
        if (answered - started <= durationMs) admittedInTime += 1;
      })
      .finally(() => {
        idle.push(authorize);
        pending.delete(call);
      });
    pending.add(call);
  };
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1000) * perSecond);
    for (; offered < due; offered += 1) {
      const authorize = idle.pop();
      if (authorize) send(authorize);
      else shed += 1;
    }
    await sleep(2);
  }
  while (pending.size > 0) await Promise.all([...pending]);
  await proxy.settled();
  const records = proxy.records;
  const admitted = outcomes.get('admitted') ?? 0;
  key.admitted += admitted;
  outcomes.delete('admitted');
  return {
    shards: key.shards,
    rate_limit: key.rateLimit,
    offered_per_second: perSecond,
    seconds,
    offered,
    shed,
    admitted,
    refused: Object.fromEntries(outcomes),
    admitted_per_second: round(admittedInTime / seconds, 1),
    dynamodb_calls: records.length,
    calls: {
      applied_writes: records.filter((record) => record.applied === true).length,
      applied_unanswered: records.filter((record) => record.applied === true && record.answered === false)
        .length,
      refused_writes: records.filter((record) => record.applied === false).length,
      throttled_writes: records.filter((record) => record.outcome === 'throttled').length,
      reads: records.filter((record) => record.writes.length === 0).length,
    },
    calls_per_admitted: admitted === 0 ? Number.NaN : round(records.length / admitted),
    admitted_latency: summarize(admittedMs),
  };
}

/** Containers warmed at once: a burst of first calls is not what this bench measures. */
const WARM_UP_BATCH = 20;

/** Each container's first call on each key, without the ceiling (a container learns a shard count then). */
async function warmUp(pool: readonly Authorize[], keys: BenchKey[]): Promise<void> {
  for (const key of keys) {
    const event = authorizerEventFor(key.apiKey);
    for (let start = 0; start < pool.length; start += WARM_UP_BATCH) {
      const batch = pool.slice(start, start + WARM_UP_BATCH);
      const outcomes = await Promise.all(batch.map(async (authorize) => outcomeOf(await authorize(event))));
      const refused = outcomes.filter((outcome) => outcome !== 'admitted');
      if (refused.length > 0) throw new Error(`warm-up of ${key.name} refused: ${refused.join(', ')}`);
      key.admitted += outcomes.length;
    }
  }
}

async function countOf(service: KeyService, key: BenchKey): Promise<KeyCount> {
  const got = await service.getKey({ userId: USER_ID, keyId: key.keyId });
  if (!got.ok) throw new Error(`bench key ${key.name} not found: ${got.error.message}`);
  const usage = await service.keyUsage({ userId: USER_ID, keyId: key.keyId, limit: 1 });
  if (!usage.ok) throw new Error(`usage of ${key.name} not read: ${usage.error.message}`);
  const used = usage.usage[0]?.rateLimit?.used;
  if (usage.usage[0]?.usageCount !== got.key.usageCount) {
    throw new Error(`${key.name}: get and usage disagree on usageCount`);
  }
  return {
    key: key.name,
    shards: got.key.shards,
    admitted: key.admitted,
    usage_count: got.key.usageCount,
    ...(used !== undefined ? { window_used: used } : {}),
  };
}

/** Waits out the end of the current window of `windowSeconds` if fewer than `marginMs` are left of it. */
async function clearOfRollover(windowSeconds: number, marginMs: number): Promise<void> {
  const windowEnd = windowStartOf(new Date(), windowSeconds) * 1000 + windowSeconds * 1000;
  const left = windowEnd - Date.now();
  if (left < marginMs) await sleep(left + 100);
}

export async function runHotKeysBench(options: HotKeysOptions = {}): Promise<HotKeysBenchResult> {
  const ceiling = options.ceiling ?? 10;
  const seconds = options.seconds ?? 4;
  const containers = options.containers ?? 100;
  const dynamo = await startDynamoDbLocal();
  let proxy: DynamoDbProxy | undefined;
  try {
    const names = tableNamesFor('bench');
    const raw = localDynamoClient(dynamo.endpoint);
    await createTables(raw, names);
    raw.destroy();
    // Keys are created and counted straight on DynamoDB Local; only the authorizer's calls pass the proxy.
    const setupClient = createDocumentClient({ endpoint: dynamo.endpoint });
    const service = createKeyServiceFor(setupClient, names, SILENT);
    const user = await service.createUser({ userId: USER_ID });
    if (!user.ok) throw new Error(user.error.message);
    // The warm-up's calls plus what 16 shards take in 40% of a phase: spent well before it ends.
    const limit = Math.round(ceiling * SHARDS * seconds * 0.4) + containers;
    const unsharded = await createBenchKey(service, 'unsharded', 1);
    const sharded = await createBenchKey(service, 'sharded', SHARDS);
    const roomy = await createBenchKey(service, 'sharded, limit far above', SHARDS, {
      limit: FAR_ABOVE,
      windowSeconds: LIMITED_WINDOW_SECONDS,
    });
    const limited = await createBenchKey(service, `sharded, limit ${limit}`, SHARDS, {
      limit,
      windowSeconds: LIMITED_WINDOW_SECONDS,
    });
    const keys = [unsharded, sharded, roomy, limited];

    const ceilinged = await startDynamoDbProxy({
      target: dynamo.endpoint,
      keyAttributes: { [names.apiKeys]: ['key_hash'] },
    });
    proxy = ceilinged;
    const pool = Array.from({ length: containers }, () => containerOn(ceilinged.endpoint, names.apiKeys));
    // Both limited keys count in one window for the whole run (it lasts well under a minute).
    await clearOfRollover(LIMITED_WINDOW_SECONDS, 60_000);
    await warmUp(pool, keys);

    // Every phase starts with full buckets (a fresh ceiling), so none inherits another's debt.
    const phase = (key: BenchKey, perSecond: number) => {
      ceilinged.setWriteCeiling({ perItemPerSecond: ceiling });
      return drive(ceilinged, pool, key, perSecond, seconds);
    };
    const unshardedPhase = await phase(unsharded, ceiling * HOT_LOAD);
    const shardedPhase = await phase(sharded, ceiling * HOT_LOAD);
    const belowPhase = await phase(roomy, ceiling * BELOW_LOAD);
    const overPhase = await phase(limited, ceiling * HOT_LOAD);
    ceilinged.setWriteCeiling(undefined);

    const counts = await Promise.all(keys.map((key) => countOf(service, key)));
    setupClient.destroy();

    const ratio =
      unshardedPhase.admitted_per_second > 0
        ? round(shardedPhase.admitted_per_second / unshardedPhase.admitted_per_second, 2)
        : Number.POSITIVE_INFINITY;
    const limitedCount = counts.find((count) => count.key === limited.name);
    const exact = counts.filter(
      (count) =>
        count.usage_count === count.admitted &&
        (count.window_used === undefined || count.window_used === count.admitted),
    ).length;
    const checks: HotKeysCheck[] = [
      {
        name: `admitted/s, ${SHARDS} shards ÷ unsharded, same offered load`,
        target: '≥ 12',
        value: ratio,
        ok: ratio >= 12,
      },
      {
        name: `unsharded key held near the ceiling (admitted/s ÷ ${ceiling})`,
        target: '≤ 1.5',
        value: round(unshardedPhase.admitted_per_second / ceiling, 2),
        ok: unshardedPhase.admitted_per_second <= ceiling * 1.5,
      },
      {
        name: 'DynamoDB calls per admitted request, sharded key below its limits',
        target: '≤ 1.05',
        value: belowPhase.calls_per_admitted,
        ok: belowPhase.calls_per_admitted <= 1.05,
      },
      {
        name: `calls admitted against a limit of ${limit} (warm-up included), sharded key`,
        target: String(limit),
        value: limited.admitted,
        ok: limited.admitted === limit && limitedCount?.window_used === limit,
      },
      {
        name: 'keys whose usage_count (head + shards; and rate window, if limited) equals the calls admitted',
        target: String(counts.length),
        value: exact,
        ok: exact === counts.length,
      },
    ];
    return {
      write_ceiling_per_item: ceiling,
      shards: SHARDS,
      containers,
      unsharded: unshardedPhase,
      sharded: shardedPhase,
      ratio,
      below_limit: belowPhase,
      over_limit: { ...overPhase, limit, window_seconds: LIMITED_WINDOW_SECONDS },
      counts,
      checks,
    };
  } finally {
    await proxy?.close();
    await dynamo.stop();
  }
}
