/**
 * The safety claims of rotation and suspension (docs/decisions/0006-key-store-at-scale.md)
 * proven fault by fault on DynamoDB Local: the service runs on the real DynamoDB stores
 * behind a switch (tests/support/faulty-stores.ts) that fails the N-th call of a method with
 * a throttle, before the call reaches DynamoDB (nothing written) or after it committed (the
 * answer lost), or never returns (the process died there).
 *
 * Each table below is derived from the store calls an undisturbed run makes (pinned by the
 * first test of each block), so a failure is injected at every one of them; the faults of
 * the compensations (what a rotation does after a failure) are injected on top of each
 * first fault. After every faulted call the state is checked (the user keeps a working key
 * the caller holds, no key works that nobody holds, nothing is counted twice), then a repeat
 * without faults must finish the job.
 *
 * The states in which a key works that nobody holds, each after a double fault or a death:
 * - a rotation of a named key issued it and could not revoke it (or died before it could):
 *   the old key's claim still names it ("parked"), a repeat is refused until the claim lapses
 *   (ROTATION_CLAIM_MS), then takes the claim over and revokes it first;
 * - a rotation of all keys issued it and could not revoke it ("orphan"): the repeat, which
 *   retires every active key, retires it.
 * A read that decides what a write of unknown outcome did is tried three times; when it
 * keeps failing, the new key is delivered anyway (the one safe answer), as the last block
 * shows.
 */
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptoRandom, hashKey } from '../../shared/domain/keys/format.js';
import { createKeyIssuer } from '../../shared/domain/keys/issue.js';
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';
import { isRetirable, ROTATION_CLAIM_MS, type RotateResult } from '../../shared/domain/keys/rotate.js';
import type { UserStatusResult } from '../../shared/domain/keys/suspension.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import {
  type Fault,
  type FaultyKeyStore,
  faultyKeyStoreFor,
  type StoreCall,
} from '../support/faulty-stores.js';
import { expectOk, keyStoreFor, type TestClock, testClock, uniqueUserId } from '../support/keystore.js';
import { silentLogger } from '../support/logs.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('key-faults');
});
afterAll(async () => tables.drop());

const T0 = '2030-01-01T00:00:00.000Z';
const GRACE_SECONDS = 3600;

/** A key the test holds the plaintext of. */
interface Held {
  apiKey: string;
  keyId: string;
  hash: string;
}

type Outcome<T> = { result: T } | { error: unknown } | { died: true };

const settle = <T>(promise: Promise<T>): Promise<Outcome<T>> =>
  promise.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );

const at = (call: StoreCall, nth: number, when: 'before' | 'after' | 'hang' = 'before'): Fault => ({
  call,
  nth,
  when,
});
const labelOf = (fault: Fault) => `${fault.call}#${fault.nth} ${fault.when}`;
const callOf = (fault: Fault) => `${fault.call}#${fault.nth}`;

/** Runs `operation` with `faults` armed; a `hang` fault ends the run where the process "died". */
async function underFaults<T>(
  store: FaultyKeyStore,
  faults: Fault[],
  operation: () => Promise<T>,
): Promise<{ outcome: Outcome<T>; trace: string[] }> {
  let died!: () => void;
  const death = new Promise<{ died: true }>((resolve) => {
    died = () => resolve({ died: true });
  });
  store.faults.arm(
    ...faults.map((fault): Fault => (fault.when === 'hang' ? { ...fault, reached: died } : fault)),
  );
  const outcome = await Promise.race([settle(operation()), death]);
  const trace = store.faults.trace();
  const fired = store.faults.fired.map(labelOf);
  store.faults.disarm();
  // Every planned fault was reached: a fault that never fires means the table is out of date.
  expect(fired.sort()).toEqual(faults.map(labelOf).sort());
  return { outcome, trace };
}

/** What a rotation answered, without its plaintext (a failed assertion must not print a key). */
function answerOf(outcome: Outcome<RotateResult | UserStatusResult>): string {
  if ('died' in outcome) return 'died';
  if ('error' in outcome) return 'throws';
  if (!outcome.result.ok) return outcome.result.error.code;
  return 'complete' in outcome.result && !outcome.result.complete ? 'incomplete' : 'ok';
}

const heldOf = (result: { apiKey: string; key: { keyId: string } }): Held => ({
  apiKey: result.apiKey,
  keyId: result.key.keyId,
  hash: hashKey(result.apiKey),
});

const pick = (held: Held) => ({ keyId: held.keyId });

/** Keys written as the service's issuer makes them, in two batch writes instead of a transaction each. */
async function seedKeys(clock: TestClock, userId: string, count: number): Promise<Held[]> {
  const items: ApiKeyItem[] = [];
  const issue = createKeyIssuer({
    keys: {
      create: async (item) => {
        items.push(item);
      },
    },
    environment: 'test',
    logger: silentLogger,
    clock,
    random: cryptoRandom,
    maxAttempts: 1,
  });
  const held: Held[] = [];
  for (let index = 0; index < count; index += 1) {
    clock.advance(1000);
    held.push(
      heldOf(expectOk(await issue({ userId, projectId: 'proj', projectBound: false, name: `k${index}` }))),
    );
  }
  // 25 writes per batch: 12 keys and their references.
  for (let offset = 0; offset < items.length; offset += 12) {
    const chunk = items.slice(offset, offset + 12);
    let requests: BatchWriteCommandInput['RequestItems'] = {
      [tables.names.apiKeys]: chunk.map((item) => ({ PutRequest: { Item: item } })),
      [tables.names.userKeys]: chunk.map(({ user_id, key_id, key_hash, created_at }) => ({
        PutRequest: { Item: { user_id, key_id, key_hash, created_at } },
      })),
    };
    while (requests && Object.keys(requests).length > 0) {
      const written: BatchWriteCommandOutput = await tables.doc.send(
        new BatchWriteCommand({ RequestItems: requests }),
      );
      requests = written.UnprocessedItems;
    }
  }
  clock.advance(1000);
  return held;
}

/** Every key of the user, read strongly consistent through the real store. */
async function keysOf(store: FaultyKeyStore, userId: string): Promise<ApiKeyItem[]> {
  const hashes: string[] = [];
  let after: string | undefined;
  do {
    const page = await store.keys.listRefs(userId, 100, after);
    hashes.push(...page.refs.map((ref) => ref.keyHash));
    after = page.lastKeyId;
  } while (after);
  return store.keys.findByHashes(hashes);
}

/** Would the verify write admit this key now (without counting a use)? */
const works = (item: ApiKeyItem, now: Date) =>
  item.status === 'active' &&
  (!item.expires_at || item.expires_at > now.toISOString()) &&
  !item.user_suspended;

const claimLive = (item: ApiKeyItem | undefined, now: Date) =>
  item?.rotation_id !== undefined && (item.rotation_until ?? '') > now.toISOString();

const byHash = (items: ApiKeyItem[], hash: string): ApiKeyItem => {
  const item = items.find((candidate) => candidate.key_hash === hash);
  if (!item) throw new Error(`no item for hash ${hash.slice(0, 8)}`);
  return item;
};

const OK = { ok: true };
// A refusal also names whose key it is (keyId, userId) for the authorizer's log line.
const REVOKED = expect.objectContaining({ ok: false, reason: 'revoked' });
const EXPIRED = expect.objectContaining({ ok: false, reason: 'expired' });
const SUSPENDED = expect.objectContaining({ ok: false, reason: 'suspended' });

// ---------------------------------------------------------------------------------------
// Rotation of one named key
// ---------------------------------------------------------------------------------------

/** The store calls of an undisturbed rotation of one named key, in order. */
const NAMED_CALLS = [
  'users.find#1',
  'keys.findRef#1',
  'keys.findByHash#1',
  'keys.claimForRotation#1',
  'keys.create#1',
  'keys.retire#1',
];

/** What the rotation calls after a failed write: the compensations, each a fault point too. */
const NAMED_COMPENSATIONS: Record<string, string[]> = {
  // The claim may have committed: it is released (a no-op when it did not).
  'keys.claimForRotation#1 before': ['keys.releaseRotation#1'],
  'keys.claimForRotation#1 after': ['keys.releaseRotation#1'],
  // The new key may have committed: found by id and revoked; only then is the claim released
  // (if the key cannot be made sure of, the claim stays: it names the key).
  'keys.create#1 before': ['keys.findRef#2', 'keys.releaseRotation#1'],
  'keys.create#1 after': ['keys.findRef#2', 'keys.revoke#1', 'keys.releaseRotation#1'],
  // The old key is read again: retired by this rotation after all (answer lost) → delivered;
  // not retired → the new key is revoked and the claim released, as above.
  'keys.retire#1 before': ['keys.findByHash#2', 'keys.findRef#2', 'keys.revoke#1', 'keys.releaseRotation#1'],
  'keys.retire#1 after': ['keys.findByHash#2'],
};

const NAMED_WRITES = new Set(['keys.claimForRotation#1', 'keys.create#1', 'keys.retire#1']);

interface NamedRow {
  label: string;
  faults: Fault[];
  graceSeconds: number;
  /** The faulted call's answer: ok, throws, died, or a refusal code. */
  answer: string;
  /** A live claim stays on the old key, so a repeat is refused until it lapses. */
  parked: boolean;
  /** The calls the faulted rotation makes (single faults: the pinned sequence). */
  trace?: string[];
}

function parseCall(label: string): { call: StoreCall; nth: number } {
  const [call, nth] = label.split('#');
  return { call: call as StoreCall, nth: Number(nth) };
}

const namedSingles: NamedRow[] = [0, GRACE_SECONDS].flatMap((graceSeconds) =>
  NAMED_CALLS.flatMap((label, index) =>
    (NAMED_WRITES.has(label) ? (['before', 'after'] as const) : (['before'] as const)).map((when) => {
      const { call, nth } = parseCall(label);
      const key = `${label} ${when}`;
      return {
        label: `${key} (grace ${graceSeconds})`,
        faults: [at(call, nth, when)],
        graceSeconds,
        answer: key === 'keys.retire#1 after' ? 'ok' : 'throws',
        parked: false,
        trace: [...NAMED_CALLS.slice(0, index + 1), ...(NAMED_COMPENSATIONS[key] ?? [])],
      };
    }),
  ),
);

/** A compensation's own failure: reads fail before; revoke also after it committed; release before. */
const COMPENSATION_VARIANTS: Record<string, readonly ('before' | 'after')[]> = {
  'keys.findRef': ['before'],
  'keys.findByHash': ['before'],
  'keys.revoke': ['before', 'after'],
  'keys.releaseRotation': ['before'],
};

const namedDoubles: NamedRow[] = Object.entries(NAMED_COMPENSATIONS).flatMap(([first, compensations]) =>
  compensations.flatMap((label) =>
    (COMPENSATION_VARIANTS[parseCall(label).call] ?? []).map((when) => {
      const [firstCall, firstWhen] = first.split(' ') as [string, 'before' | 'after'];
      const { call, nth } = parseCall(label);
      // The claim stays (and names the new key) when the release fails, or when the new key may
      // exist and could not be made sure of: any failure of its findRef/revoke after a create,
      // or after a retire that did not commit.
      const parked =
        (call === 'keys.releaseRotation' && first !== 'keys.claimForRotation#1 before') ||
        first.startsWith('keys.create') ||
        (first === 'keys.retire#1 before' && call !== 'keys.findByHash');
      const row = `${first} + ${label} ${when}`;
      return {
        label: row,
        faults: [at(parseCall(firstCall).call, 1, firstWhen), at(call, nth, when)],
        graceSeconds: 0,
        // The re-read is tried again: it finds the retire committed, and the key is delivered.
        answer: row === 'keys.retire#1 after + keys.findByHash#2 before' ? 'ok' : 'throws',
        parked,
      };
    }),
  ),
);

async function expectNamedRotationDone(
  store: FaultyKeyStore,
  clock: TestClock,
  userId: string,
  old: Held,
  final: Held,
  graceSeconds: number,
): Promise<void> {
  const items = await keysOf(store, userId);
  const now = clock();
  expect(items.filter((item) => isRetirable(item, now)).map((item) => item.key_id)).toEqual([final.keyId]);
  expect(items.filter((item) => claimLive(item, now))).toEqual([]);
  expect(byHash(items, old.hash)).toMatchObject({ replaced_by: final.keyId });
  // Keys that failed rotations issued (never delivered) are revoked as such.
  for (const item of items.filter((candidate) => ![old.hash, final.hash].includes(candidate.key_hash))) {
    expect(item, `undelivered key ${item.key_id}`).toMatchObject({
      status: 'revoked',
      revoked_reason: 'rotation_failed',
    });
  }
  expect(await store.service.verify(final.apiKey)).toMatchObject({ ...OK, keyId: final.keyId });
  if (graceSeconds === 0) {
    expect(await store.service.verify(old.apiKey)).toEqual(REVOKED);
  } else {
    expect(await store.service.verify(old.apiKey)).toMatchObject(OK);
    clock.advance(graceSeconds * 1000);
    expect(await store.service.verify(old.apiKey)).toEqual(EXPIRED);
    expect(await store.service.verify(final.apiKey)).toMatchObject(OK);
  }
}

async function rotateNamedUnderFaults(row: NamedRow): Promise<void> {
  const clock = testClock(T0);
  const store = faultyKeyStoreFor(tables, { clock });
  const userId = uniqueUserId('named');
  expectOk(await store.service.createUser({ userId }));
  const [old] = (await seedKeys(clock, userId, 1)) as [Held];
  const rotate = () => store.service.rotate({ userId, keyId: old.keyId, graceSeconds: row.graceSeconds });

  const { outcome, trace } = await underFaults(store, row.faults, rotate);

  expect(answerOf(outcome)).toBe(row.answer);
  if (row.trace) expect(trace).toEqual(row.trace);
  const delivered = 'result' in outcome && outcome.result.ok ? heldOf(outcome.result) : undefined;
  const items = await keysOf(store, userId);
  const oldItem = byHash(items, old.hash);

  // The user keeps a working key the caller holds.
  if (delivered) {
    expect(await store.service.verify(delivered.apiKey)).toMatchObject({ ...OK, keyId: delivered.keyId });
    expect(oldItem).toMatchObject({ replaced_by: delivered.keyId });
    expect(await store.service.verify(old.apiKey)).toMatchObject(
      row.graceSeconds > 0 ? { ...OK, ...pick(old) } : REVOKED,
    );
  } else {
    expect(await store.service.verify(old.apiKey)).toMatchObject({ ...OK, keyId: old.keyId });
    expect(oldItem.rotated_at).toBeUndefined();
  }
  // No key works that nobody holds, unless the claim left on the old key names it.
  expect(claimLive(oldItem, clock())).toBe(row.parked);
  const unheld = items.filter(
    (item) => works(item, clock()) && ![old.hash, delivered?.hash].includes(item.key_hash),
  );
  for (const item of unheld) {
    expect(row.parked, `key ${item.key_id} works and nobody holds it`).toBe(true);
    expect(oldItem.rotation_key_id, `key ${item.key_id} works, nobody holds it, no claim names it`).toBe(
      item.key_id,
    );
  }

  // The same call again, without faults, finishes the rotation.
  let final: Held;
  if (delivered) {
    expect(answerOf(await settle(rotate()))).toBe('key_not_active');
    final = delivered;
  } else {
    if (row.parked) {
      clock.advance(ROTATION_CLAIM_MS - 1);
      expect(answerOf(await settle(rotate()))).toBe('key_not_active');
      expect(await keysOf(store, userId)).toHaveLength(items.length);
      clock.advance(1);
    }
    final = heldOf(expectOk(await rotate()));
  }
  await expectNamedRotationDone(store, clock, userId, old, final, row.graceSeconds);
}

describe('rotation of one named key, a failure at every store call', () => {
  it('an undisturbed rotation makes exactly the store calls the tables enumerate', async () => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock });
    const userId = uniqueUserId('named');
    expectOk(await store.service.createUser({ userId }));
    const [old] = (await seedKeys(clock, userId, 1)) as [Held];

    const { outcome, trace } = await underFaults(store, [], () =>
      store.service.rotate({ userId, keyId: old.keyId }),
    );

    expect(answerOf(outcome)).toBe('ok');
    expect(trace).toEqual(NAMED_CALLS);
  });

  it.each(namedSingles)('$label', rotateNamedUnderFaults);

  it.each(namedDoubles)('$label', rotateNamedUnderFaults);
});

describe('rotation of one named key, the process dies between steps', () => {
  // The process dies at each call (the call never happens). Dying after the retire committed
  // is the end of the rotation: only its answer is lost, which no store state can repair.
  const rows: NamedRow[] = NAMED_CALLS.map((label) => {
    const { call, nth } = parseCall(label);
    return {
      label: `dies at ${label}`,
      faults: [at(call, nth, 'hang')],
      graceSeconds: 0,
      answer: 'died',
      // From the claim on, it stays until it lapses.
      parked: call === 'keys.create' || call === 'keys.retire',
    };
  });

  it.each(rows)('$label', rotateNamedUnderFaults);

  // The rotation that takes the lapsed claim over cannot revoke the key it names: it changes
  // nothing (the claim still names that key), and the next repeat finishes the job.
  it.each(
    [at('keys.findRef', 1), at('keys.revoke', 1), at('keys.revoke', 1, 'after')].map((fault) => ({
      label: labelOf(fault),
      fault,
    })),
  )('dies at keys.retire#1, then the takeover fails at $label', async ({ fault }) => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock });
    const userId = uniqueUserId('takeover');
    expectOk(await store.service.createUser({ userId }));
    const [old] = (await seedKeys(clock, userId, 1)) as [Held];
    const rotate = () => store.service.rotate({ userId, keyId: old.keyId });
    await underFaults(store, [at('keys.retire', 1, 'hang')], rotate);
    const undelivered = (await keysOf(store, userId)).find((item) => item.key_hash !== old.hash);
    expect(undelivered && works(undelivered, clock())).toBe(true);
    clock.advance(ROTATION_CLAIM_MS);

    const { outcome } = await underFaults(store, [fault], rotate);

    expect(answerOf(outcome)).toBe('throws');
    const items = await keysOf(store, userId);
    expect(items).toHaveLength(2);
    expect(byHash(items, old.hash)).toMatchObject({ rotation_key_id: undelivered?.key_id });
    expect(await store.service.verify(old.apiKey)).toMatchObject({ ...OK, keyId: old.keyId });
    const final = heldOf(expectOk(await rotate()));
    await expectNamedRotationDone(store, clock, userId, old, final, 0);
  });
});

// ---------------------------------------------------------------------------------------
// Rotation of all keys
// ---------------------------------------------------------------------------------------

const ALL_KEYS = 5;
const ALL_CALLS = [
  'users.find#1',
  'keys.listRefs#1',
  'keys.findByHashes#1',
  'keys.create#1',
  ...Array.from({ length: ALL_KEYS }, (_, index) => `keys.retire#${index + 1}`),
];

function allCompensations(key: string): string[] {
  if (key === 'keys.create#1 before') return ['keys.findRef#1'];
  if (key === 'keys.create#1 after') return ['keys.findRef#1', 'keys.revoke#1'];
  if (key.startsWith('keys.retire') && key.endsWith('before'))
    return ['keys.findByHashes#2', 'keys.findRef#1', 'keys.revoke#1'];
  if (key.startsWith('keys.retire') && key.endsWith('after')) return ['keys.findByHashes#2'];
  return [];
}

interface AllRow {
  label: string;
  faults: Fault[];
  answer: string;
  /** The new key could not be revoked: it works, nobody holds it, and the repeat retires it. */
  orphan: boolean;
  trace?: string[];
}

const allSingles: AllRow[] = ALL_CALLS.flatMap((label, index) =>
  (label === 'keys.create#1' || label.startsWith('keys.retire')
    ? (['before', 'after'] as const)
    : (['before'] as const)
  ).map((when) => {
    const { call, nth } = parseCall(label);
    const key = `${label} ${when}`;
    return {
      label: key,
      faults: [at(call, nth, when)],
      answer: call === 'keys.retire' && when === 'after' ? 'ok' : 'throws',
      orphan: false,
      // Retirements run in parallel: every one starts before any fails.
      trace:
        call === 'keys.retire'
          ? [...ALL_CALLS, ...allCompensations(key)]
          : [...ALL_CALLS.slice(0, index + 1), ...allCompensations(key)],
    };
  }),
);

const allDoubles: AllRow[] = [
  { first: at('keys.create', 1, 'before'), second: at('keys.findRef', 1), orphan: false },
  { first: at('keys.create', 1, 'after'), second: at('keys.findRef', 1), orphan: true },
  { first: at('keys.create', 1, 'after'), second: at('keys.revoke', 1), orphan: true },
  { first: at('keys.create', 1, 'after'), second: at('keys.revoke', 1, 'after'), orphan: false },
  // The re-read is tried again and finds key 2 active: the new key is revoked.
  { first: at('keys.retire', 2), second: at('keys.findByHashes', 2), orphan: false },
  { first: at('keys.retire', 2), second: at('keys.findRef', 1), orphan: true },
  { first: at('keys.retire', 2), second: at('keys.revoke', 1), orphan: true },
  { first: at('keys.retire', 2), second: at('keys.revoke', 1, 'after'), orphan: false },
  // The re-read is tried again and finds key 4 retired: every old key is, and the key is delivered.
  { first: at('keys.retire', 4, 'after'), second: at('keys.findByHashes', 2), orphan: false, answer: 'ok' },
].map(({ first, second, orphan, answer }) => ({
  label: `${labelOf(first)} + ${labelOf(second)}`,
  faults: [first, second],
  answer: answer ?? 'throws',
  orphan,
}));

async function rotateAllUnderFaults(row: AllRow): Promise<void> {
  const clock = testClock(T0);
  const store = faultyKeyStoreFor(tables, { clock });
  const userId = uniqueUserId('all');
  expectOk(await store.service.createUser({ userId }));
  const olds = await seedKeys(clock, userId, ALL_KEYS);
  const oldHashes = olds.map((held) => held.hash);
  const rotate = () => store.service.rotate({ userId, graceSeconds: 0 });

  const { outcome, trace } = await underFaults(store, row.faults, rotate);

  expect(answerOf(outcome)).toBe(row.answer);
  if (row.trace) expect(trace).toEqual(row.trace);
  let items = await keysOf(store, userId);
  const issued = items.filter((item) => !oldHashes.includes(item.key_hash));
  const verdicts = await Promise.all(olds.map((held) => store.service.verify(held.apiKey)));
  if ('result' in outcome && outcome.result.ok) {
    const delivered = heldOf(outcome.result);
    // Every old key counted once, the one whose answer was lost included.
    expect(outcome.result.retired.map((key) => key.keyId).sort()).toEqual(
      olds.map((held) => held.keyId).sort(),
    );
    expect(verdicts).toEqual(olds.map(() => REVOKED));
    expect(issued.map((item) => item.key_id)).toEqual([delivered.keyId]);
    expect(await store.service.verify(delivered.apiKey)).toMatchObject({ ...OK, keyId: delivered.keyId });
    expect(items.filter((item) => isRetirable(item, clock())).map((item) => item.key_id)).toEqual([
      delivered.keyId,
    ]);
    return;
  }
  // Not delivered: at least one old key still works, exactly the ones not retired.
  expect(verdicts.filter((verdict) => verdict.ok).length).toBeGreaterThan(0);
  olds.forEach((held, index) => {
    const item = byHash(items, held.hash);
    expect(verdicts[index], `old key ${held.keyId}`).toEqual(
      item.replaced_by
        ? REVOKED
        : { ...OK, ...pick(held), userId, projectId: 'proj', projectBound: false, limits: {} },
    );
  });
  const retiredFirst = olds.filter((held) => byHash(items, held.hash).replaced_by).map((held) => held.keyId);
  // The new key's plaintext is lost: revoked, unless its revoke failed too (then the repeat retires it).
  expect(issued.length).toBeLessThanOrEqual(1);
  for (const item of issued) {
    if (row.orphan) expect(works(item, clock())).toBe(true);
    else expect(item).toMatchObject({ status: 'revoked', revoked_reason: 'rotation_failed' });
  }

  // The repeat retires what is left, each key once.
  const repeat = expectOk(await rotate());
  const final = heldOf(repeat);
  const stillWorking = [
    ...olds.filter((held) => !retiredFirst.includes(held.keyId)).map((held) => held.keyId),
    ...issued.filter((item) => works(item, clock())).map((item) => item.key_id),
  ];
  expect(repeat.retired.map((key) => key.keyId).sort()).toEqual(stillWorking.sort());
  items = await keysOf(store, userId);
  expect(items.filter((item) => isRetirable(item, clock())).map((item) => item.key_id)).toEqual([
    final.keyId,
  ]);
  expect(await Promise.all(olds.map((held) => store.service.verify(held.apiKey)))).toEqual(
    olds.map(() => REVOKED),
  );
  expect(await store.service.verify(final.apiKey)).toMatchObject({ ...OK, keyId: final.keyId });
  for (const item of issued) expect(byHash(items, item.key_hash).status).toBe('revoked');
}

describe('rotation of all keys, a failure at every store call', () => {
  it('an undisturbed rotation makes exactly the store calls the tables enumerate', async () => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock });
    const userId = uniqueUserId('all');
    expectOk(await store.service.createUser({ userId }));
    await seedKeys(clock, userId, ALL_KEYS);

    const { outcome, trace } = await underFaults(store, [], () => store.service.rotate({ userId }));

    expect(answerOf(outcome)).toBe('ok');
    expect(trace).toEqual(ALL_CALLS);
  });

  it.each(allSingles)('$label', rotateAllUnderFaults);

  it.each(allDoubles)('$label', rotateAllUnderFaults);
});

// ---------------------------------------------------------------------------------------
// A write of unknown outcome whose re-read keeps failing
// ---------------------------------------------------------------------------------------

/** The re-read fails on all three of its tries. */
const rereadFails = (call: StoreCall): Fault[] => [at(call, 2), at(call, 3), at(call, 4)];

describe('a retire of unknown outcome whose re-read keeps failing: the new key is delivered anyway', () => {
  it.each([
    ['committed', 'after'],
    ['did not commit', 'before'],
  ] as const)('one named key, the retire %s', async (_case, when) => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock });
    const userId = uniqueUserId('doubt');
    expectOk(await store.service.createUser({ userId }));
    const [old] = (await seedKeys(clock, userId, 1)) as [Held];
    const rotate = () => store.service.rotate({ userId, keyId: old.keyId });

    const { outcome } = await underFaults(
      store,
      [at('keys.retire', 1, when), ...rereadFails('keys.findByHash')],
      rotate,
    );

    expect(answerOf(outcome)).toBe('ok');
    const delivered = heldOf((outcome as { result: Extract<RotateResult, { ok: true }> }).result);
    expect(await store.service.verify(delivered.apiKey)).toMatchObject({ ...OK, keyId: delivered.keyId });
    const oldItem = byHash(await keysOf(store, userId), old.hash);
    // No claim is left naming the delivered key, so no later rotation revokes it.
    expect(claimLive(oldItem, clock())).toBe(false);
    if (when === 'after') {
      expect(await store.service.verify(old.apiKey)).toEqual(REVOKED);
      expect(answerOf(await settle(rotate()))).toBe('key_not_active');
    } else {
      // Not retired: it still works, and the same call rotates it now.
      expect(await store.service.verify(old.apiKey)).toMatchObject({ ...OK, keyId: old.keyId });
      const final = heldOf(expectOk(await rotate()));
      expect(await store.service.verify(old.apiKey)).toEqual(REVOKED);
      expect(await store.service.verify(final.apiKey)).toMatchObject(OK);
    }
    expect(await store.service.verify(delivered.apiKey)).toMatchObject({ ...OK, keyId: delivered.keyId });
  });

  it.each([
    ['committed', 'after'],
    ['did not commit', 'before'],
  ] as const)('all keys, one retire %s', async (_case, when) => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock });
    const userId = uniqueUserId('doubt-all');
    expectOk(await store.service.createUser({ userId }));
    const olds = await seedKeys(clock, userId, ALL_KEYS);
    const rotate = () => store.service.rotate({ userId, graceSeconds: 0 });

    const { outcome } = await underFaults(
      store,
      [at('keys.retire', 3, when), ...rereadFails('keys.findByHashes')],
      rotate,
    );

    expect(answerOf(outcome)).toBe('ok');
    const result = (outcome as { result: Extract<RotateResult, { ok: true }> }).result;
    const delivered = heldOf(result);
    // The four confirmed retirements are reported; the unconfirmed one is not.
    expect(result.retired).toHaveLength(ALL_KEYS - 1);
    expect(await store.service.verify(delivered.apiKey)).toMatchObject({ ...OK, keyId: delivered.keyId });
    const verdicts = await Promise.all(olds.map((held) => store.service.verify(held.apiKey)));
    expect(verdicts.filter((verdict) => verdict.ok)).toHaveLength(when === 'after' ? 0 : 1);

    // A repeat retires whatever still works, the delivered key included, under a newer key.
    const final = heldOf(expectOk(await rotate()));
    expect(await Promise.all(olds.map((held) => store.service.verify(held.apiKey)))).toEqual(
      olds.map(() => REVOKED),
    );
    expect(await store.service.verify(final.apiKey)).toMatchObject({ ...OK, keyId: final.keyId });
  });
});

// ---------------------------------------------------------------------------------------
// Suspension and reactivation
// ---------------------------------------------------------------------------------------

const STATUS_KEYS = 14;
/** Revoked before the suspension (positions in key id order): refused throughout, never counted. */
const REVOKED_INDEXES = [2, 9];
const PAGE_SIZE = 4;
const CONCURRENCY = 3;
const ACTIVE_KEYS = STATUS_KEYS - REVOKED_INDEXES.length;

/** Pages of 4, 4, 4, 2 references: a progress record after each full page, `done` at the end. */
const STATUS_CALLS = [
  'users.changeStatus#1',
  ...[0, 1, 2, 3].flatMap((page) => [
    `keys.listRefs#${page + 1}`,
    ...Array.from(
      { length: Math.min(PAGE_SIZE, STATUS_KEYS - page * PAGE_SIZE) },
      (_, index) => `keys.stampUserStatus#${page * PAGE_SIZE + index + 1}`,
    ),
    `users.recordStamping#${page + 1}`,
  ]),
];

interface StatusRow {
  label: string;
  fault: Fault;
  answer: 'ok' | 'incomplete' | 'throws';
  /** The status change itself went through. */
  statusChanged: boolean;
}

const statusRows: StatusRow[] = (
  [
    { fault: at('users.changeStatus', 1), answer: 'throws', statusChanged: false },
    { fault: at('users.changeStatus', 1, 'after'), answer: 'throws', statusChanged: true },
    ...[1, 2, 4].map((nth) => ({
      fault: at('keys.listRefs', nth),
      answer: 'incomplete' as const,
      statusChanged: true,
    })),
    ...[1, 7, 14].map((nth) => ({
      fault: at('keys.stampUserStatus', nth),
      answer: 'incomplete' as const,
      statusChanged: true,
    })),
    // The 8th key (in key id order) is active: its stamp commits unseen, is found on the key
    // when it is read again, and counted; stamping goes on.
    { fault: at('keys.stampUserStatus', 8, 'after'), answer: 'ok', statusChanged: true },
    ...[1, 4].flatMap((nth) =>
      (['before', 'after'] as const).map((when) => ({
        fault: at('users.recordStamping', nth, when),
        answer: 'incomplete' as const,
        statusChanged: true,
      })),
    ),
    { fault: at('users.recordStamping', 2), answer: 'incomplete', statusChanged: true },
  ] as Omit<StatusRow, 'label'>[]
).map((row) => ({ ...row, label: labelOf(row.fault) }));

async function statusUnderFault(row: StatusRow): Promise<void> {
  const clock = testClock(T0);
  const store = faultyKeyStoreFor(tables, { clock, stampPageSize: PAGE_SIZE, writeConcurrency: CONCURRENCY });
  const userId = uniqueUserId('status');
  expectOk(await store.service.createUser({ userId }));
  // In key id order, the order in which stamping reads (and stamps) them.
  const keys = (await seedKeys(clock, userId, STATUS_KEYS)).sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
  for (const index of REVOKED_INDEXES) await store.keys.revoke(keys[index]?.hash ?? '', clock(), 'test');
  const revoked = new Set(REVOKED_INDEXES.map((index) => keys[index]?.hash));
  const verifyAll = () => Promise.all(keys.map((held) => store.service.verify(held.apiKey)));
  let before = await verifyAll();

  for (const suspended of [true, false]) {
    const target = suspended ? 'suspended' : 'active';
    const previous = suspended ? 'active' : 'suspended';

    const { outcome, trace } = await underFaults(store, [row.fault], () =>
      store.service.setUserStatus({ userId, suspended }),
    );

    expect(answerOf(outcome)).toBe(row.answer);
    const firstIndex = STATUS_CALLS.indexOf(callOf(row.fault));
    expect(trace.slice(0, firstIndex + 1)).toEqual(STATUS_CALLS.slice(0, firstIndex + 1));
    const interrupted = 'result' in outcome ? expectOk(outcome.result) : undefined;
    const user = await store.users.find(userId);
    expect(user?.status).toBe(row.statusChanged ? target : previous);
    if (suspended && row.statusChanged) {
      expect(await store.service.createKey({ userId })).toMatchObject({
        ok: false,
        error: { code: 'user_suspended' },
      });
    }
    // Each key as stamped so far: a suspension only refuses more, a reactivation admits a prefix.
    const items = await keysOf(store, userId);
    const after = await verifyAll();
    const version = user?.status_version ?? 0;
    let stamped = 0;
    keys.forEach((held, index) => {
      const item = byHash(items, held.hash);
      const label = `key ${index} (${held.keyId})`;
      if (revoked.has(held.hash)) {
        expect(after[index], label).toEqual(REVOKED);
        return;
      }
      const done = row.statusChanged && item.user_status_version === version;
      if (done) stamped += 1;
      const carries = done ? target : previous;
      expect(after[index], label).toMatchObject(carries === 'suspended' ? SUSPENDED : OK);
    });
    // A suspension in progress refuses every key it refused before, and more.
    if (suspended) {
      before.forEach((verdict, index) => {
        if (!verdict.ok) expect(after[index]?.ok, `key ${index}`).toBe(false);
      });
    }
    // Every stamp on a key was counted by this pass, the one whose answer was lost too.
    expect(stamped).toBe(interrupted?.keysUpdated ?? 0);

    // A repeat resumes and finishes; no key is counted twice.
    const repeat = expectOk(await store.service.setUserStatus({ userId, suspended }));
    expect(repeat.complete).toBe(true);
    expect((interrupted?.keysUpdated ?? 0) + repeat.keysUpdated).toBe(ACTIVE_KEYS);
    const done = await store.users.find(userId);
    expect(done).toMatchObject({ status: target, keys_stamped_version: done?.status_version });
    expect(done?.keys_stamped_through).toBeUndefined();
    const final = await verifyAll();
    keys.forEach((held, index) => {
      expect(final[index], `key ${index}`).toMatchObject(
        revoked.has(held.hash) ? REVOKED : suspended ? SUSPENDED : OK,
      );
    });
    before = final;
  }
}

describe('suspension and reactivation, a failure at the N-th store call', () => {
  it('an undisturbed suspension and reactivation make exactly the store calls the table enumerates', async () => {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, {
      clock,
      stampPageSize: PAGE_SIZE,
      writeConcurrency: CONCURRENCY,
    });
    const userId = uniqueUserId('status');
    expectOk(await store.service.createUser({ userId }));
    await seedKeys(clock, userId, STATUS_KEYS);

    for (const suspended of [true, false]) {
      const { outcome, trace } = await underFaults(store, [], () =>
        store.service.setUserStatus({ userId, suspended }),
      );
      expect(answerOf(outcome)).toBe('ok');
      expect(trace).toEqual(STATUS_CALLS);
    }
  });

  it.each(statusRows)('$label: suspension and then reactivation', statusUnderFault);
});

describe('a superseded status change never undoes a newer one', () => {
  async function pausedChange(suspendedFirst: boolean) {
    const clock = testClock(T0);
    const store = faultyKeyStoreFor(tables, { clock, stampPageSize: 4, writeConcurrency: 1 });
    const other = keyStoreFor(tables, { clock, stampPageSize: 4, writeConcurrency: 1 });
    const userId = uniqueUserId('race');
    expectOk(await store.service.createUser({ userId }));
    const keys = await seedKeys(clock, userId, 10);
    if (!suspendedFirst) expectOk(await other.service.setUserStatus({ userId, suspended: true }));
    const verifyAll = () => Promise.all(keys.map((held) => store.service.verify(held.apiKey)));

    // The first change pauses at the first stamp of its second page.
    let release!: () => void;
    let paused!: () => void;
    const reached = new Promise<void>((resolve) => {
      paused = resolve;
    });
    store.faults.arm({
      call: 'keys.stampUserStatus',
      nth: 5,
      when: 'pause',
      until: new Promise<void>((resolve) => {
        release = resolve;
      }),
      reached: paused,
    });
    const stale = store.service.setUserStatus({ userId, suspended: suspendedFirst });
    await reached;
    const staleVersion = (await store.users.find(userId))?.status_version ?? 0;

    // The opposite change runs to the end meanwhile.
    const newer = expectOk(await other.service.setUserStatus({ userId, suspended: !suspendedFirst }));
    expect(newer.complete).toBe(true);
    release();
    const staleAnswer = await stale;
    store.faults.disarm();
    return { store, userId, keys, verifyAll, staleVersion, staleAnswer };
  }

  it('a suspension overtaken by a reactivation stamps nothing it should not: every key still works', async () => {
    const { store, userId, keys, verifyAll, staleVersion, staleAnswer } = await pausedChange(true);

    expect(staleAnswer).toMatchObject({ ok: false, error: { code: 'user_status_changed' } });
    expect((await store.users.find(userId))?.status).toBe('active');
    expect(await verifyAll()).toEqual(keys.map(() => expect.objectContaining(OK)));
    // A stamp of the old version, as a straggler of the stale suspension would write it.
    for (const held of keys)
      expect(await store.keys.stampUserStatus(held.hash, true, staleVersion)).toBe(false);
    expect(await verifyAll()).toEqual(keys.map(() => expect.objectContaining(OK)));

    // Repeating the suspension now is a new one, and it completes.
    const again = expectOk(await store.service.setUserStatus({ userId, suspended: true }));
    expect(again).toMatchObject({ complete: true, keysUpdated: keys.length });
    expect((await store.users.find(userId))?.status_version).toBeGreaterThan(staleVersion + 1);
    expect(await verifyAll()).toEqual(keys.map(() => SUSPENDED));
  });

  it('a reactivation overtaken by a suspension admits nothing: every key stays refused', async () => {
    const { store, userId, keys, verifyAll, staleVersion, staleAnswer } = await pausedChange(false);

    expect(staleAnswer).toMatchObject({ ok: false, error: { code: 'user_status_changed' } });
    expect((await store.users.find(userId))?.status).toBe('suspended');
    expect(await verifyAll()).toEqual(keys.map(() => SUSPENDED));
    for (const held of keys)
      expect(await store.keys.stampUserStatus(held.hash, false, staleVersion)).toBe(false);
    expect(await verifyAll()).toEqual(keys.map(() => SUSPENDED));
    expect(await store.service.createKey({ userId })).toMatchObject({
      ok: false,
      error: { code: 'user_suspended' },
    });
  });
});
