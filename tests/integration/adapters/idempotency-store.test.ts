import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canonicalJson,
  DynamoIdempotencyStore,
  IDEMPOTENCY_TTL_SECONDS,
} from '../../../shared/adapters/dynamodb/idempotency-store.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('idempotency');
});
afterAll(async () => tables.drop());

function storeAt(start = Date.parse('2030-01-01T00:00:00Z')) {
  let now = start;
  const store = new DynamoIdempotencyStore({
    client: tables.doc,
    tableName: tables.names.idempotency,
    inProgressMs: 30_000,
    clock: () => now,
  });
  return { store, advance: (ms: number) => (now += ms) };
}

const answer = { statusCode: 200, body: '{"success":true}', requestId: 'req-1' };
let keyCounter = 0;
const freshKey = () => `key-${++keyCounter}-${Date.now()}`;

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
  it('claims a new key, then replays the completed answer for the same body', async () => {
    const { store } = storeAt();
    const key = freshKey();
    const claimed = await store.begin('user-a', key, { x: 1, y: [1, 2] });
    if (claimed.kind !== 'claimed') throw new Error('expected a claim');
    await store.complete(claimed.recordId, answer);

    const repeat = await store.begin('user-a', key, { y: [1, 2], x: 1 });

    expect(repeat).toEqual({ kind: 'replay', answer });
  });

  it('reports another body, and a repeat while in progress, as conflicts', async () => {
    const { store } = storeAt();
    const key = freshKey();
    await store.begin('user-a', key, { x: 1 });

    const whileRunning = await store.begin('user-a', key, { x: 1 });
    const otherBody = await store.begin('user-a', key, { x: 2 });

    expect(whileRunning).toEqual({ kind: 'conflict', reason: 'in_progress' });
    expect(otherBody).toEqual({ kind: 'conflict', reason: 'different_body' });
  });

  it('scopes keys to the user', async () => {
    const { store } = storeAt();
    const key = freshKey();
    await store.begin('user-a', key, { x: 1 });

    expect((await store.begin('user-b', key, { x: 1 })).kind).toBe('claimed');
  });

  it('lets a released claim be taken again, and never releases a completed answer', async () => {
    const { store } = storeAt();
    const key = freshKey();
    const first = await store.begin('user-a', key, { x: 1 });
    if (first.kind !== 'claimed') throw new Error('expected a claim');
    await store.release(first.recordId);
    const second = await store.begin('user-a', key, { x: 2 });
    if (second.kind !== 'claimed') throw new Error('expected a second claim');
    await store.complete(second.recordId, answer);

    await store.release(second.recordId);

    expect(await store.begin('user-a', key, { x: 2 })).toEqual({ kind: 'replay', answer });
  });

  it('treats an in-progress claim as abandoned after inProgressMs', async () => {
    const { store, advance } = storeAt();
    const key = freshKey();
    await store.begin('user-a', key, { x: 1 });

    advance(30_001);

    expect((await store.begin('user-a', key, { x: 1 })).kind).toBe('claimed');
  });

  it('forgets a completed answer after 24 hours even before DynamoDB TTL deletes it', async () => {
    const { store, advance } = storeAt();
    const key = freshKey();
    const claimed = await store.begin('user-a', key, { x: 1 });
    if (claimed.kind !== 'claimed') throw new Error('expected a claim');
    await store.complete(claimed.recordId, answer);

    advance((IDEMPOTENCY_TTL_SECONDS - 1) * 1000);
    const withinDay = await store.begin('user-a', key, { x: 2 });
    advance(2000);
    const afterDay = await store.begin('user-a', key, { x: 2 });

    expect(withinDay).toEqual({ kind: 'conflict', reason: 'different_body' });
    expect(afterDay.kind).toBe('claimed');
  });

  it('lets exactly one of many concurrent first requests claim the key', async () => {
    const { store } = storeAt();
    const key = freshKey();

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => store.begin('user-a', key, { x: 1 })),
    );

    expect(outcomes.filter((outcome) => outcome.kind === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'conflict')).toHaveLength(19);
  });
});
