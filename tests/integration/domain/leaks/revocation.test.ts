/**
 * A GitHub secret-scanning report against DynamoDB Local (SPEC §3c): the real revocation
 * adapter (one conditional UpdateItem per well-formed key of this stage), with recording
 * fakes only for the notification, the metric and the logger.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../../local/dynamodb.js';
import { DynamoKeyRevocation } from '../../../../shared/adapters/dynamodb/key-revocation.js';
import { generateKey, hashKey } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import type { LeakNotice } from '../../../../shared/domain/leaks/ports.js';
import type { LeakLabel, LeakReportItem } from '../../../../shared/domain/leaks/report.js';
import {
  handleLeakReport,
  LEAK_ACTOR,
  LEAKED_REASON,
  type LeakDeps,
} from '../../../../shared/domain/leaks/revocation.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import {
  expectOk,
  keyStoreFor,
  scanApiKeys,
  type TestClock,
  testClock,
  uniqueUserId,
} from '../../../support/keystore.js';
import { type RecordingLogger, recordingLogger } from '../../../support/logs.js';
import { type CountingClient, countingDocumentClient } from '../../../support/sdk.js';

const TOKEN_TYPE = 'keygate_api_key';
const URL = 'https://github.com/octo/leaky/blob/0123abc/.env';

let tables: TestTables;
let counting: CountingClient;
let revocation: DynamoKeyRevocation;

beforeAll(async () => {
  tables = await createTestTables('leaks');
  counting = countingDocumentClient(tables.endpoint);
  revocation = new DynamoKeyRevocation(counting.doc, tables.names.apiKeys);
});
afterAll(async () => {
  counting.doc.destroy();
  await tables.drop();
});
beforeEach(() => counting.reset());

interface Recorded {
  deps: LeakDeps;
  notices: LeakNotice[];
  telemetry: [LeakLabel, boolean][];
  logs: RecordingLogger;
  clock: TestClock;
}

function recorded(overrides: Partial<LeakDeps> = {}): Recorded {
  const notices: LeakNotice[] = [];
  const telemetry: [LeakLabel, boolean][] = [];
  const logs = recordingLogger();
  const clock = testClock('2030-05-01T12:00:00.000Z');
  const deps: LeakDeps = {
    keys: revocation,
    environment: 'test',
    notify: async (notice) => {
      notices.push(notice);
    },
    logger: logs.logger,
    telemetry: { tokenReported: (label, revoked) => telemetry.push([label, revoked]) },
    clock,
    ...overrides,
  };
  return { deps, notices, telemetry, logs, clock };
}

function reported(token: string, url = URL): LeakReportItem {
  return { token, type: TOKEN_TYPE, url, source: 'content' };
}

async function liveKey(userId?: string) {
  const store = keyStoreFor(tables);
  const owner = userId ?? uniqueUserId('leak');
  if (!userId) expectOk(await store.service.createUser({ userId: owner }));
  const created = expectOk(await store.service.createKey({ userId: owner }));
  return { apiKey: created.apiKey, keyId: created.key.keyId, userId: owner, hash: hashKey(created.apiKey) };
}

async function itemOf(hash: string): Promise<ApiKeyItem | undefined> {
  const { Item } = await tables.doc.send(
    new GetCommand({ TableName: tables.names.apiKeys, Key: { key_hash: hash }, ConsistentRead: true }),
  );
  return Item as ApiKeyItem | undefined;
}

/** A well-formed key whose checksum no longer matches (its last character changed). */
function wrongChecksum(key: string): string {
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  return key.slice(0, -1) + last;
}

describe('a reported key of this stage', () => {
  it('is revoked with reason leaked, labelled true_positive, announced once and audited, never with the token', async () => {
    const key = await liveKey();
    const { deps, notices, telemetry, logs, clock } = recorded();

    const answer = await handleLeakReport([reported(key.apiKey)], deps);

    expect(answer).toEqual([{ token_hash: key.hash, token_type: TOKEN_TYPE, label: 'true_positive' }]);
    expect(counting.calls).toEqual(['UpdateItemCommand']);
    const item = await itemOf(key.hash);
    expect(item).toMatchObject({
      key_id: key.keyId,
      user_id: key.userId,
      status: 'revoked',
      revoked_reason: LEAKED_REASON,
      revoked_at: clock().toISOString(),
    });

    expect(notices).toEqual([
      {
        keyId: key.keyId,
        userId: key.userId,
        url: URL,
        source: 'content',
        type: TOKEN_TYPE,
        revokedAt: clock().toISOString(),
      },
    ]);
    expect(JSON.stringify(notices)).not.toContain(key.apiKey);

    const audit = logs.records.filter((record) => record.message === 'audit');
    expect(audit).toHaveLength(1);
    expect(audit[0]?.attributes).toMatchObject({
      actor: LEAK_ACTOR,
      key_id: key.keyId,
      user_id: key.userId,
      url: URL,
      outcome: 'revoked',
    });
    expect(telemetry).toEqual([['true_positive', true]]);
    expect(logs.text()).not.toContain(key.apiKey);
    expect(logs.text()).not.toContain(key.apiKey.slice(12));
  });

  it('a repeat of the report is harmless: true_positive again, no second notice, the item unchanged', async () => {
    const key = await liveKey();
    const { deps, notices, telemetry, logs, clock } = recorded();
    await handleLeakReport([reported(key.apiKey)], deps);
    const afterFirst = await itemOf(key.hash);
    clock.advance(60_000);
    counting.reset();

    const again = await handleLeakReport([reported(key.apiKey, `${URL}?again`)], deps);

    expect(again).toEqual([{ token_hash: key.hash, token_type: TOKEN_TYPE, label: 'true_positive' }]);
    expect(counting.calls).toEqual(['UpdateItemCommand']);
    expect(await itemOf(key.hash)).toEqual(afterFirst);
    expect(afterFirst?.revoked_at).toBe('2030-05-01T12:00:00.000Z');
    expect(notices).toHaveLength(1);
    expect(telemetry).toEqual([
      ['true_positive', true],
      ['true_positive', false],
    ]);
    const audit = logs.records.filter((record) => record.message === 'audit');
    expect(audit.map((record) => record.attributes.outcome)).toEqual(['revoked', 'already_revoked']);
    expect(audit[1]?.attributes).toMatchObject({ key_id: key.keyId, url: `${URL}?again` });
    expect(logs.text()).not.toContain(key.apiKey);
  });

  it('the same key twice in one report is revoked and announced once, both labelled true_positive', async () => {
    const key = await liveKey();
    const { deps, notices } = recorded();

    const answer = await handleLeakReport([reported(key.apiKey), reported(key.apiKey, `${URL}#L2`)], deps);

    expect(answer.map((entry) => entry.label)).toEqual(['true_positive', 'true_positive']);
    expect(notices).toHaveLength(1);
    expect((await itemOf(key.hash))?.revoked_reason).toBe(LEAKED_REASON);
  });

  it('the same key 200 times in one report (one leak in many files) costs one write, one notice and one count', async () => {
    const key = await liveKey();
    const { deps, notices, telemetry } = recorded();
    counting.reset();

    const items = Array.from({ length: 200 }, (_, index) => reported(key.apiKey, `${URL}#L${index}`));
    const answer = await handleLeakReport(items, deps);

    expect(answer).toHaveLength(200);
    expect(new Set(answer.map((entry) => entry.label))).toEqual(new Set(['true_positive']));
    expect(counting.calls).toEqual(['UpdateItemCommand']);
    expect(notices).toHaveLength(1);
    expect(telemetry).toEqual([['true_positive', true]]);
  });

  it('a key an operator already revoked is a true_positive whose revocation is left as it was', async () => {
    const store = keyStoreFor(tables);
    const key = await liveKey();
    expectOk(await store.service.revokeKey({ userId: key.userId, keyId: key.keyId, reason: 'offboarded' }));
    const before = await itemOf(key.hash);
    const { deps, notices } = recorded();

    const answer = await handleLeakReport([reported(key.apiKey)], deps);

    expect(answer[0]?.label).toBe('true_positive');
    expect(notices).toEqual([]);
    expect(await itemOf(key.hash)).toEqual(before);
    expect(before?.revoked_reason).toBe('offboarded');
  });

  it('an expired (still active) key of ours is revoked as leaked too', async () => {
    const past = keyStoreFor(tables, { clock: testClock('2020-01-01T00:00:00Z') });
    const userId = uniqueUserId('leak-expired');
    expectOk(await past.service.createUser({ userId }));
    const created = expectOk(await past.service.createKey({ userId, expiresAt: '2020-01-02T00:00:00Z' }));
    const { deps, notices } = recorded();

    const answer = await handleLeakReport([reported(created.apiKey)], deps);

    expect(answer[0]?.label).toBe('true_positive');
    expect(notices).toHaveLength(1);
    expect(await itemOf(hashKey(created.apiKey))).toMatchObject({
      status: 'revoked',
      revoked_reason: LEAKED_REASON,
    });
  });
});

describe('a reported token that is not one of our keys', () => {
  it('an unknown well-formed key of this stage is a false_positive, and no item is created for it', async () => {
    const unknown = generateKey('test');
    const { deps, notices, telemetry } = recorded();
    const itemsBefore = (await scanApiKeys(tables)).length;

    const answer = await handleLeakReport([reported(unknown.key)], deps);

    expect(answer).toEqual([{ token_hash: unknown.hash, token_type: TOKEN_TYPE, label: 'false_positive' }]);
    expect(counting.calls).toEqual(['UpdateItemCommand']);
    expect(await itemOf(unknown.hash)).toBeUndefined();
    expect((await scanApiKeys(tables)).length).toBe(itemsBefore);
    expect(notices).toEqual([]);
    expect(telemetry).toEqual([['false_positive', false]]);
  });

  it('garbage, a wrong checksum and the other environment’s key are false_positive without any DynamoDB call', async () => {
    const ours = await liveKey();
    const tokens = [
      'not a key',
      '',
      'kg_test_',
      `${ours.apiKey}x`,
      ` ${ours.apiKey}`,
      ours.apiKey.toUpperCase(),
      wrongChecksum(ours.apiKey),
      wrongChecksum(generateKey('test').key),
      generateKey('live').key,
      'kg_prod_'.padEnd(57, 'a'),
      'x'.repeat(10_000),
    ];
    const { deps, notices, telemetry } = recorded();
    counting.reset();

    const answer = await handleLeakReport(
      tokens.map((token) => reported(token)),
      deps,
    );

    expect(answer).toEqual(
      tokens.map((token) => ({
        token_hash: hashKey(token),
        token_type: TOKEN_TYPE,
        label: 'false_positive',
      })),
    );
    expect(counting.calls).toEqual([]);
    expect(notices).toEqual([]);
    expect(telemetry).toEqual(tokens.map(() => ['false_positive', false]));
    expect((await itemOf(ours.hash))?.status).toBe('active');
  });

  it('a stage issuing live keys never looks up a test key, even one that exists in the table', async () => {
    const ours = await liveKey();
    const { deps, notices } = recorded({ environment: 'live' });
    counting.reset();

    const answer = await handleLeakReport([reported(ours.apiKey)], deps);

    expect(answer[0]?.label).toBe('false_positive');
    expect(counting.calls).toEqual([]);
    expect(notices).toEqual([]);
    expect((await itemOf(ours.hash))?.status).toBe('active');
  });
});

/** A deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffled<T>(items: T[], seed = 13): T[] {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let index = out.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [out[index], out[other]] = [out[other] as T, out[index] as T];
  }
  return out;
}

describe('a report of 1,000 tokens', () => {
  it('labels every token in input order, revokes every live key and finishes well within 10 s', async () => {
    const store = keyStoreFor(tables);
    const users = Array.from({ length: 10 }, () => uniqueUserId('leak-bulk'));
    for (const userId of users) expectOk(await store.service.createUser({ userId }));
    const live = (
      await Promise.all(
        users.map(async (userId) => {
          const keys = [];
          for (let index = 0; index < 10; index += 1) keys.push(await liveKey(userId));
          return keys;
        }),
      )
    ).flat();
    const liveTokens = new Set(live.map((key) => key.apiKey));
    const others = [
      ...Array.from({ length: 300 }, () => generateKey('test').key),
      ...Array.from({ length: 300 }, () => generateKey('live').key),
      ...Array.from({ length: 150 }, (_, index) => `garbage-${index}`),
      ...Array.from({ length: 150 }, () => wrongChecksum(generateKey('test').key)),
    ];
    const tokens = shuffled([...live.map((key) => key.apiKey), ...others]);
    expect(tokens).toHaveLength(1000);
    const report = tokens.map((token, index) => ({
      ...reported(token, `${URL}#L${index}`),
      type: `t${index}`,
    }));
    const itemsBefore = (await scanApiKeys(tables)).length;
    const { deps, notices, telemetry } = recorded();
    counting.reset();

    const started = performance.now();
    const answer = await handleLeakReport(report, deps);
    const elapsedMs = performance.now() - started;
    console.info(
      `secret-scanning report of 1,000 tokens (100 live) on DynamoDB Local: ${elapsedMs.toFixed(0)} ms`,
    );

    // Bounded even under a full CI run on 2 cores; `npm run bench` measures the real time.
    expect(elapsedMs).toBeLessThan(20_000);
    expect(answer).toEqual(
      tokens.map((token, index) => ({
        token_hash: hashKey(token),
        token_type: `t${index}`,
        label: liveTokens.has(token) ? 'true_positive' : 'false_positive',
      })),
    );
    // Only the well-formed keys of this stage reached DynamoDB: 100 live + 300 unknown.
    expect(counting.calls).toHaveLength(400);
    expect(notices.map((notice) => notice.keyId).sort()).toEqual(live.map((key) => key.keyId).sort());
    expect(telemetry.filter(([, revoked]) => revoked)).toHaveLength(100);

    const after = await scanApiKeys(tables);
    expect(after).toHaveLength(itemsBefore);
    const byHash = new Map(after.map((item) => [item.key_hash, item]));
    for (const key of live) {
      expect(byHash.get(key.hash)).toMatchObject({ status: 'revoked', revoked_reason: LEAKED_REASON });
    }
  }, 120_000);
});

describe('when something fails', () => {
  it('a DynamoDB failure rejects the report (the handler answers 500 and GitHub retries)', async () => {
    const closed = countingDocumentClient(`http://127.0.0.1:${await freePort()}`, {
      connectionTimeoutMs: 300,
      requestTimeoutMs: 500,
      maxAttempts: 1,
    });
    const { deps, notices, telemetry } = recorded({
      keys: new DynamoKeyRevocation(closed.doc, tables.names.apiKeys),
    });

    await expect(
      handleLeakReport([reported('garbage'), reported(generateKey('test').key)], deps),
    ).rejects.toThrow();
    closed.doc.destroy();

    expect(closed.calls).toEqual(['UpdateItemCommand']);
    expect(notices).toEqual([]);
    expect(telemetry).toEqual([['false_positive', false]]);
  });

  it('a failed notification still revokes the key and labels it true_positive, and says so in the logs', async () => {
    const key = await liveKey();
    const { deps, telemetry, logs } = recorded({
      notify: async () => {
        throw new Error('SNS is down');
      },
    });

    const answer = await handleLeakReport([reported(key.apiKey)], deps);

    expect(answer[0]?.label).toBe('true_positive');
    expect(await itemOf(key.hash)).toMatchObject({ status: 'revoked', revoked_reason: LEAKED_REASON });
    expect(telemetry).toEqual([['true_positive', true]]);
    const failure = logs.records.find((record) => record.level === 'error');
    expect(failure?.attributes).toMatchObject({ key_id: key.keyId, error_name: 'Error' });
    expect(logs.records.some((record) => record.message === 'audit')).toBe(true);
    expect(logs.text()).not.toContain(key.apiKey);
  });
});
