import { createHash, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClaimLostError,
  canonicalJson,
  DynamoIdempotencyStore,
  IDEMPOTENCY_TTL_SECONDS,
  idempotencyRecordId,
  MAX_STORED_ANSWER_BYTES,
} from '../../../shared/adapters/dynamodb/idempotency-store.js';
import type { BeginOutcome, IdempotencyClaim } from '../../../shared/domain/requests/ports.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('idempotency');
});
afterAll(async () => tables.drop());

const T0 = Date.parse('2030-01-01T00:00:00Z');
const WAIT_MS = 25_000;
const SETTLE_MS = 60_000;

function storeAt(start = T0) {
  let now = start;
  const store = new DynamoIdempotencyStore({ client: tables.doc, tableName: tables.names.idempotency });
  const times = () => ({ now, expectedBy: now + WAIT_MS, settlesBy: now + SETTLE_MS });
  return {
    store,
    times,
    now: () => now,
    advance: (ms: number) => (now += ms),
    begin: (user: string, key: string, body: unknown, requestId = `req-${++requestCounter}`) =>
      store.begin(user, key, body, requestId, times()),
  };
}

let requestCounter = 0;
const answer = { statusCode: 200, body: '{"success":true}', requestId: 'req-1' };
let keyCounter = 0;
const freshKey = () => `key-${++keyCounter}-${Date.now()}`;

function claimOf(outcome: BeginOutcome): IdempotencyClaim {
  if (outcome.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(outcome)}`);
  return outcome.claim;
}

async function rawRecord(userId: string, key: string): Promise<Record<string, unknown> | undefined> {
  const result = await tables.doc.send(
    new GetCommand({
      TableName: tables.names.idempotency,
      Key: { id: idempotencyRecordId(userId, key) },
      ConsistentRead: true,
    }),
  );
  return result.Item;
}

describe('canonicalJson', () => {
  it('is the same for any order of object keys, at any depth', () => {
    const shuffled = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(shuffled);
      if (value !== null && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value)
            .reverse()
            .map(([key, child]) => [key, shuffled(child)]),
        );
      }
      return value;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(shuffled(value))).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('tells different bodies apart', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        // Deep equality ignores key order; the JSON round trip turns -0 into 0 as the wire does.
        const same = isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
        expect(canonicalJson(a) === canonicalJson(b)).toBe(same);
      }),
      { numRuns: 300 },
    );
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
    expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }));
  });
});

describe('DynamoIdempotencyStore on DynamoDB Local', () => {
  it('claims a new key with this request id, then replays the completed answer for the same body', async () => {
    const { store, begin } = storeAt();
    const key = freshKey();
    const claim = claimOf(await begin('user-a', key, { x: 1, y: [1, 2] }, 'req-first'));
    expect(claim).toMatchObject({ attempt: 1, requestId: 'req-first', doubted: false });
    expect(await store.complete(claim, answer)).toBe('stored');

    const repeat = await begin('user-a', key, { y: [1, 2], x: 1 });

    expect(repeat).toEqual({ kind: 'replay', answer });
  });

  it('reports another body as different_body, and a repeat while in progress as busy until the expected end', async () => {
    const { begin, times } = storeAt();
    const key = freshKey();
    const { expectedBy } = times();
    await begin('user-a', key, { x: 1 }, 'req-first');

    const whileRunning = await begin('user-a', key, { x: 1 });
    const otherBody = await begin('user-a', key, { x: 2 });

    expect(whileRunning).toEqual({
      kind: 'busy',
      state: 'in_progress',
      retryAt: expectedBy,
      requestId: 'req-first',
    });
    expect(otherBody).toEqual({ kind: 'different_body' });
  });

  it('scopes keys to the user', async () => {
    const { begin } = storeAt();
    const key = freshKey();
    await begin('user-a', key, { x: 1 });

    expect((await begin('user-b', key, { x: 1 })).kind).toBe('claimed');
  });

  it('deletes a released claim that was never in doubt: any body may follow, as a new request', async () => {
    const { store, begin, now } = storeAt();
    const key = freshKey();
    const first = claimOf(await begin('user-a', key, { x: 1 }, 'req-one'));
    await store.release(first, now());
    const second = claimOf(await begin('user-a', key, { x: 2 }, 'req-two'));
    await store.complete(second, answer);

    await store.release(second, now());

    expect(second).toMatchObject({ attempt: 1, requestId: 'req-two', doubted: false });
    expect(await begin('user-a', key, { x: 2 })).toEqual({ kind: 'replay', answer });
  });

  it('holds a claim in doubt until retryAt, then hands the next attempt the same request id', async () => {
    const { store, begin, advance, now } = storeAt();
    const key = freshKey();
    const first = claimOf(await begin('user-a', key, { x: 1 }, 'req-first'));
    await store.markInDoubt(first, now() + 30_000);

    advance(29_000);
    const during = await begin('user-a', key, { x: 1 }, 'req-during');
    const otherBody = await begin('user-a', key, { x: 2 }, 'req-other');
    advance(1_000);
    const after = await begin('user-a', key, { x: 1 }, 'req-after');

    expect(during).toEqual({ kind: 'busy', state: 'in_doubt', retryAt: T0 + 30_000, requestId: 'req-first' });
    expect(otherBody).toEqual({ kind: 'different_body' });
    expect(claimOf(after)).toEqual({
      recordId: first.recordId,
      attempt: 2,
      requestId: 'req-first',
      doubted: true,
    });
  });

  it('keeps a doubted record on release: retryable at once, same body and request id', async () => {
    const { store, begin, advance, now } = storeAt();
    const key = freshKey();
    const first = claimOf(await begin('user-a', key, { x: 1 }, 'req-first'));
    await store.markInDoubt(first, now() + 1_000);
    advance(1_000);
    const second = claimOf(await begin('user-a', key, { x: 1 }, 'req-second'));

    await store.release(second, now());

    expect(await begin('user-a', key, { x: 2 })).toEqual({ kind: 'different_body' });
    expect(claimOf(await begin('user-a', key, { x: 1 }, 'req-third'))).toMatchObject({
      attempt: 3,
      requestId: 'req-first',
    });
  });

  it('lets a claim whose holder died be taken over only once it has settled, with the same request id', async () => {
    const { begin, advance } = storeAt();
    const key = freshKey();
    await begin('user-a', key, { x: 1 }, 'req-first');

    advance(WAIT_MS + 1);
    const pastExpected = await begin('user-a', key, { x: 1 });
    advance(SETTLE_MS - WAIT_MS);
    const settled = await begin('user-a', key, { x: 1 }, 'req-late');

    // Past the expected end, a repeat is told to wait for the settle time instead.
    expect(pastExpected).toEqual({
      kind: 'busy',
      state: 'in_progress',
      retryAt: T0 + SETTLE_MS,
      requestId: 'req-first',
    });
    expect(claimOf(settled)).toMatchObject({ attempt: 2, requestId: 'req-first', doubted: true });
  });

  it('fences every move by the attempt: a superseded attempt changes nothing', async () => {
    const { store, begin, advance, now } = storeAt();
    const key = freshKey();
    const stale = claimOf(await begin('user-a', key, { x: 1 }, 'req-first'));
    advance(SETTLE_MS);
    const current = claimOf(await begin('user-a', key, { x: 1 }));

    await expect(store.complete(stale, answer)).rejects.toBeInstanceOf(ClaimLostError);
    await expect(store.markInDoubt(stale, now() + 1)).rejects.toBeInstanceOf(ClaimLostError);
    await store.release(stale, now());

    expect(await rawRecord('user-a', key)).toMatchObject({ status: 'in_progress', attempt: current.attempt });
    expect(await store.complete(current, answer)).toBe('stored');
    expect(await begin('user-a', key, { x: 1 })).toEqual({ kind: 'replay', answer });
  });

  it('stores a 2 MB answer compressed and replays it byte for byte', async () => {
    const { store, begin } = storeAt();
    const key = freshKey();
    const content = 'A long generated answer, repeated as long answers are. '.repeat(40_000);
    const big = {
      statusCode: 200,
      body: JSON.stringify({ success: true, response: { content } }),
      requestId: 'req-big',
    };
    expect(big.body.length).toBeGreaterThan(2_000_000);
    const claim = claimOf(await begin('user-a', key, { x: 1 }));

    expect(await store.complete(claim, big)).toBe('stored');

    const stored = await rawRecord('user-a', key);
    expect((stored?.answer_body as Uint8Array | undefined)?.byteLength).toBeLessThan(MAX_STORED_ANSWER_BYTES);
    expect(stored?.answer_bytes).toBe(Buffer.byteLength(big.body));
    expect(await begin('user-a', key, { x: 1 })).toEqual({ kind: 'replay', answer: big });
  });

  it('marks an answer too large even compressed as unreplayable, and says so to every repeat', async () => {
    const { store, begin } = storeAt();
    const key = freshKey();
    const noise = randomBytes(600_000).toString('base64');
    const huge = {
      statusCode: 200,
      body: JSON.stringify({ success: true, response: noise }),
      requestId: 'req-huge',
    };
    const claim = claimOf(await begin('user-a', key, { x: 1 }, 'req-huge'));

    expect(await store.complete(claim, huge)).toBe('unreplayable');

    expect(await begin('user-a', key, { x: 1 })).toEqual({ kind: 'unreplayable', requestId: 'req-huge' });
    const stored = await rawRecord('user-a', key);
    expect(stored).toMatchObject({ status: 'unreplayable', answer_bytes: Buffer.byteLength(huge.body) });
    expect(stored?.answer_body).toBeUndefined();
  });

  it('forgets a completed answer after 24 hours even before DynamoDB TTL deletes it', async () => {
    const { store, begin, advance } = storeAt();
    const key = freshKey();
    await store.complete(claimOf(await begin('user-a', key, { x: 1 })), answer);

    advance((IDEMPOTENCY_TTL_SECONDS - 1) * 1000);
    const withinDay = await begin('user-a', key, { x: 2 });
    advance(2000);
    const afterDay = await begin('user-a', key, { x: 2 }, 'req-next-day');

    expect(withinDay).toEqual({ kind: 'different_body' });
    expect(claimOf(afterDay)).toMatchObject({ attempt: 1, requestId: 'req-next-day' });
  });

  it('lets exactly one of many concurrent first requests claim the key', async () => {
    const { begin } = storeAt();
    const key = freshKey();

    const outcomes = await Promise.all(Array.from({ length: 20 }, () => begin('user-a', key, { x: 1 })));

    expect(outcomes.filter((outcome) => outcome.kind === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'busy')).toHaveLength(19);
  });

  it('lets exactly one of many concurrent repeats take over a doubt whose wait is over', async () => {
    const { store, begin, advance, now } = storeAt();
    const key = freshKey();
    await store.markInDoubt(claimOf(await begin('user-a', key, { x: 1 }, 'req-first')), now() + 1000);
    advance(1000);

    const outcomes = await Promise.all(Array.from({ length: 20 }, () => begin('user-a', key, { x: 1 })));

    const claims = outcomes.filter((outcome) => outcome.kind === 'claimed');
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({ claim: { attempt: 2, requestId: 'req-first' } });
    expect(outcomes.filter((outcome) => outcome.kind === 'busy')).toHaveLength(19);
  });

  it('reads records written before attempts and compression: replays the old answer, takes over an old lapsed claim', async () => {
    const { begin } = storeAt();
    const completedKey = freshKey();
    const abandonedKey = freshKey();
    const bodyHash = createHash('sha256')
      .update(canonicalJson({ x: 1 }))
      .digest('hex');
    const expires = Math.floor(T0 / 1000) + 3600;
    await tables.doc.send(
      new PutCommand({
        TableName: tables.names.idempotency,
        Item: {
          id: idempotencyRecordId('user-a', completedKey),
          body_hash: bodyHash,
          status: 'completed',
          expires_at_epoch: expires,
          answer,
        },
      }),
    );
    await tables.doc.send(
      new PutCommand({
        TableName: tables.names.idempotency,
        Item: {
          id: idempotencyRecordId('user-a', abandonedKey),
          body_hash: bodyHash,
          status: 'in_progress',
          expires_at_epoch: expires,
          in_progress_until: T0 - 1,
        },
      }),
    );

    expect(await begin('user-a', completedKey, { x: 1 })).toEqual({ kind: 'replay', answer });
    expect(claimOf(await begin('user-a', abandonedKey, { x: 1 }, 'req-new'))).toMatchObject({
      attempt: 1,
      requestId: 'req-new',
      doubted: true,
    });
  });
});
