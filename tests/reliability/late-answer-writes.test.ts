/**
 * Every conditional write besides the verify write (late-answers.test.ts), under a late or
 * lost answer (SPEC §5 "Exact under late answers", docs/decisions/0011): the fault proxy
 * lets DynamoDB Local apply the write, then delays its answer past the client's time limit
 * or resets the connection. The clients are the functions' own (createDocumentClient: only
 * failures that prove nothing was applied are retried), with a short time limit so that
 * "late" is cheap. For each write: what its caller sees (the first outcome, or an error it
 * can repeat), that the state is consistent (applied once, or not at all), and that the
 * caller's repeat converges without applying anything twice:
 * - idempotency claim (PutItem) and takeover (UpdateItem): re-sent, the repeat finds its
 *   own holder → the same request holds the claim; never 409 to itself;
 * - idempotency complete: not re-sent, the caller sees the error; the record is completed
 *   once and replays; a repeated complete changes nothing;
 * - budget hold: re-sent by the store, the re-send finds its own hold → held once; when every
 *   send is lost the caller fails closed, and the hold comes back when its time passes;
 * - budget settle / release: retried by the ledger; the repeat finds the hold closed before
 *   its time and reports it settled (metric, log line) once; spent = paid once, held back to 0;
 * - key revoke: the caller sees an error, the key is revoked once; a repeat is refused and
 *   leaves revoked_at as the first write set it;
 * - rotation claim: the rotation gives its claim up and fails, nothing issued; the repeat rotates;
 * - rotation retire (named and all): re-read, the rotation delivers its new key; the old ones
 *   retired once;
 * - suspension stamp: the key is read again, the stamp found there is counted; the action
 *   completes, every key counted exactly once, none stamped twice.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoBudgetStore } from '../../shared/adapters/dynamodb/budget-store.js';
import {
  ClaimLostError,
  DynamoIdempotencyStore,
  type IdempotencyItem,
  idempotencyRecordId,
} from '../../shared/adapters/dynamodb/idempotency-store.js';
import { DynamoKeyRevocation } from '../../shared/adapters/dynamodb/key-revocation.js';
import type { BudgetItem } from '../../shared/domain/budgets/model.js';
import { micros } from '../../shared/domain/budgets/money.js';
import { hashKey } from '../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';
import { KeyStateError } from '../../shared/domain/keys/ports.js';
import type { BeginOutcome, IdempotencyClaim } from '../../shared/domain/requests/ports.js';
import { budgetItemOf, budgetStoreOn, ledgerOn, recordingTelemetry, refOf } from '../support/budgets.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import type { DynamoDbProxy, ProxiedRequest, ProxyAction } from '../support/dynamodb-proxy.js';
import { expectOk, keyStoreFor, type TestKeyStore, uniqueUserId } from '../support/keystore.js';
import {
  clientPool,
  keyStringOf,
  outcomesOf,
  requestLog,
  startLateProxy,
  updateOf,
} from '../support/late-answers.js';

/** The late clients' time limit, and a delay past it (DynamoDB Local answers in a few ms). */
const TIME_LIMIT_MS = 600;
const LATE_MS = 1_200;

let tables: TestTables;
let proxy: DynamoDbProxy;
let pool: ReturnType<typeof clientPool>;
let log: ReturnType<typeof requestLog>;
/** Arrangement and inspection: straight to DynamoDB Local, never through the proxy. */
let direct: TestKeyStore;

beforeAll(async () => {
  tables = await createTestTables('late-writes');
  proxy = await startLateProxy(tables);
  pool = clientPool(proxy);
  log = requestLog(proxy);
  direct = keyStoreFor(tables);
});

afterAll(async () => {
  await proxy?.close();
  await tables?.drop();
});

beforeEach(() => {
  log.setRules();
  log.reset();
});

afterEach(async () => {
  log.setRules();
  await proxy.settled();
  pool.destroyAll();
});

/** A client as the functions make one (default attempts), on the proxy, with a short time limit. */
const lateClient = () => pool.through({ requestTimeoutMs: TIME_LIMIT_MS });

type Loss = 'delayed' | 'dropped';
const LOSSES: readonly Loss[] = ['delayed', 'dropped'];

const actionOf = (loss: Loss): ProxyAction =>
  loss === 'delayed' ? { action: 'delay', ms: LATE_MS } : { action: 'drop' };

/** The next write matching `match` is applied by DynamoDB and its answer lost as `loss` says. */
function loseNext(loss: Loss, match: (request: ProxiedRequest) => boolean): void {
  log.setRules([{ ...actionOf(loss), match, times: 1 }]);
}

/** What became of the requests so far (those matching `which`), once each has ended. */
const seen = async (which?: (request: ProxiedRequest) => boolean) => outcomesOf(await log.records(which));
/** Only the requests of one operation. */
const operation = (name: string) => (request: ProxiedRequest) => request.operation === name;

const lost = (operation: string, loss: Loss) => ({
  operation,
  outcome: loss,
  applied: true,
  answered: false,
});
const refused = (operation: string) => ({ operation, outcome: 'forwarded', applied: false, answered: true });
const applied = (operation: string) => ({ operation, outcome: 'forwarded', applied: true, answered: true });

/** The error the caller sees when a write's answer is lost: a time-out or a reset, never a condition failure. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => expect.fail('expected the write to fail'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).name).not.toBe('ConditionalCheckFailedException');
  expect(error).not.toBeInstanceOf(KeyStateError);
  return error as Error;
}

describe('idempotency claims (shared/adapters/dynamodb/idempotency-store.ts)', () => {
  const WAIT_MS = 25_000;
  const SETTLE_MS = 60_000;
  const answer = { statusCode: 200, body: '{"success":true}', requestId: 'req-first' };
  const body = { key_id: 'key_late', project_id: 'proj-late', request: { x: 1 } };
  const timesAt = (now: number) => ({ now, expectedBy: now + WAIT_MS, settlesBy: now + SETTLE_MS });
  const directStore = () =>
    new DynamoIdempotencyStore({ client: tables.doc, tableName: tables.names.idempotency });
  const lateStore = () =>
    new DynamoIdempotencyStore({ client: lateClient(), tableName: tables.names.idempotency });
  const claimOf = (outcome: BeginOutcome): IdempotencyClaim => {
    if (outcome.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(outcome)}`);
    return outcome.claim;
  };
  const recordOf = async (userId: string, key: string) => {
    const { Item } = await tables.doc.send(
      new GetCommand({
        TableName: tables.names.idempotency,
        Key: { id: idempotencyRecordId(userId, key) },
        ConsistentRead: true,
      }),
    );
    return Item as IdempotencyItem | undefined;
  };
  const claimPut = (request: ProxiedRequest) =>
    request.operation === 'PutItem' && request.tableName === tables.names.idempotency;

  it.each(LOSSES)(
    'a first claim whose PutItem answer was %s: the same request holds it (not busy), others wait, it completes',
    async (loss) => {
      const userId = uniqueUserId('idem');
      const key = `late-${randomUUID()}`;
      const now = Date.now();
      loseNext(loss, claimPut);

      const outcome = await lateStore().begin(userId, key, body, 'req-first', timesAt(now));

      const claim = claimOf(outcome);
      expect(claim).toMatchObject({ attempt: 1, requestId: 'req-first', doubted: false });
      // Sent again because the outcome was unknown; the second send found its own holder.
      expect(await seen()).toEqual([lost('PutItem', loss), refused('PutItem')]);
      expect(await recordOf(userId, key)).toMatchObject({
        status: 'in_progress',
        attempt: 1,
        holder: 'req-first',
        request_id: 'req-first',
      });
      expect(await directStore().begin(userId, key, body, 'req-other', timesAt(now + 1))).toEqual({
        kind: 'busy',
        state: 'in_progress',
        retryAt: now + WAIT_MS,
        requestId: 'req-first',
      });
      expect(await directStore().complete(claim, answer)).toBe('stored');
      expect(await directStore().begin(userId, key, body, 'req-again', timesAt(now + 2))).toEqual({
        kind: 'replay',
        answer,
      });
    },
  );

  it.each(LOSSES)(
    'a takeover whose UpdateItem answer was %s: still claimed by the same attempt, same request id',
    async (loss) => {
      const userId = uniqueUserId('idem');
      const key = `late-${randomUUID()}`;
      const now = Date.now();
      const first = claimOf(await directStore().begin(userId, key, body, 'req-first', timesAt(now)));
      await directStore().markInDoubt(first, now + 1_000);
      loseNext(loss, updateOf(tables.names.idempotency, 'holder = :holder'));

      const outcome = await lateStore().begin(userId, key, body, 'req-second', timesAt(now + 1_000));

      const claim = claimOf(outcome);
      expect(claim).toEqual({ recordId: first.recordId, attempt: 2, requestId: 'req-first', doubted: true });
      expect(await seen(operation('UpdateItem'))).toEqual([lost('UpdateItem', loss), refused('UpdateItem')]);
      expect(await recordOf(userId, key)).toMatchObject({
        status: 'in_progress',
        attempt: 2,
        holder: 'req-second',
        request_id: 'req-first',
      });
      expect(await directStore().begin(userId, key, body, 'req-third', timesAt(now + 1_001))).toMatchObject({
        kind: 'busy',
        state: 'in_progress',
        requestId: 'req-first',
      });
      expect(await directStore().complete(claim, answer)).toBe('stored');
    },
  );

  it.each(LOSSES)(
    'a complete whose answer was %s: the caller sees the error, the record is completed once and replays',
    async (loss) => {
      const userId = uniqueUserId('idem');
      const key = `late-${randomUUID()}`;
      const now = Date.now();
      const claim = claimOf(await directStore().begin(userId, key, body, 'req-first', timesAt(now)));
      loseNext(loss, updateOf(tables.names.idempotency, 'answer_body = :body'));

      await failureOf(lateStore().complete(claim, answer));

      // Not sent again: the caller (process.ts) logs it and still answers its client.
      expect(await seen()).toEqual([lost('UpdateItem', loss)]);
      const completed = await recordOf(userId, key);
      expect(completed).toMatchObject({ status: 'completed', attempt: 1, answer_request_id: 'req-first' });
      expect(await directStore().begin(userId, key, body, 'req-repeat', timesAt(now + 1))).toEqual({
        kind: 'replay',
        answer,
      });
      // A repeated complete is fenced off: nothing written twice.
      await expect(
        directStore().complete(claim, { ...answer, body: '{"other":true}' }),
      ).rejects.toBeInstanceOf(ClaimLostError);
      expect(await recordOf(userId, key)).toEqual(completed);
    },
  );
});

describe('budget holds and settlements (shared/adapters/dynamodb/budget-store.ts, ledger.ts)', () => {
  const LIMIT = micros(1_000_000);
  const HOLD = micros(100_000);
  const owner = { keyId: 'key_budgettest', userId: 'budget-user' };
  const holdWrite = () => updateOf(tables.names.budgets, 'holds.#r = :entry');
  const settleWrite = () => updateOf(tables.names.budgets, 'spent :paid');

  async function newBudget(): Promise<BudgetItem> {
    const item = budgetItemOf({ limit: LIMIT, hold: HOLD });
    await budgetStoreOn(tables).create(item);
    return item;
  }
  const stored = async (item: BudgetItem) => (await budgetStoreOn(tables).find(item.budget_id)) as BudgetItem;
  const lateLedger = (clock?: () => number) =>
    ledgerOn(new DynamoBudgetStore(lateClient(), tables.names.budgets), clock ? { clock } : {});
  const directLedger = () => ledgerOn(budgetStoreOn(tables));

  /** remaining = limit − spent − held, unheld = limit − held, held = the sum of the open holds. */
  function expectConsistent(item: BudgetItem): void {
    const open = Object.values(item.holds).reduce((sum, entry) => sum + entry.a, 0);
    expect(item.held).toBe(open);
    expect(item.unheld).toBe(item.budget_limit - item.held);
    expect(item.remaining).toBe(item.budget_limit - item.spent - item.held);
  }

  it.each(LOSSES)(
    'a hold whose answer was %s: re-sent, the re-send finds its own hold; held once, settled once',
    async (loss) => {
      const item = await newBudget();
      const now = Date.now();
      loseNext(loss, holdWrite());

      const outcome = await lateLedger().hold(refOf(item), 'req-1', now + 60_000, owner);

      if (!outcome.ok) throw new Error('the hold was refused');
      expect(outcome.hold).toMatchObject({ requestId: 'req-1', amount: HOLD, until: now + 60_000 });
      // The re-send was refused (the hold is open); the ledger kept it as the call's own.
      expect(await seen(holdWrite())).toEqual([lost('UpdateItem', loss), refused('UpdateItem')]);
      const afterHold = await stored(item);
      expect(afterHold.holds).toEqual({ 'req-1': { a: HOLD, u: now + 60_000 } });
      expect(afterHold.held).toBe(HOLD);
      expectConsistent(afterHold);

      await directLedger().settle(outcome.hold, { actual_amount: 0.04, currency: 'USD' });
      const settled = await stored(item);
      expect(settled).toMatchObject({ spent: 40_000, held: 0, holds: {}, remaining: LIMIT - 40_000 });
      expectConsistent(settled);
    },
  );

  it.each(LOSSES)(
    'a hold whose every send was %s: the caller fails closed, the hold is open once; its repeat keeps it and settles once',
    async (loss) => {
      const item = await newBudget();
      const now = Date.now();
      log.setRules([{ ...actionOf(loss), match: holdWrite(), times: 3 }]);

      await failureOf(lateLedger().hold(refOf(item), 'req-1', now + 60_000, owner));

      expect(await seen()).toEqual([
        lost('UpdateItem', loss),
        { ...refused('UpdateItem'), outcome: loss, answered: false },
        { ...refused('UpdateItem'), outcome: loss, answered: false },
      ]);
      const afterLost = await stored(item);
      expect(Object.keys(afterLost.holds)).toEqual(['req-1']);
      expect(afterLost.held).toBe(HOLD);
      expectConsistent(afterLost);

      // The repeat of an Idempotency-Key in doubt carries the same request id: its own hold, kept and extended.
      const repeat = await directLedger().hold(refOf(item), 'req-1', now + 120_000, owner);
      if (!repeat.ok) throw new Error('the repeat was refused');
      expect(repeat.hold.amount).toBe(HOLD);
      const afterRepeat = await stored(item);
      expect(afterRepeat.held).toBe(HOLD);
      expect(afterRepeat.holds['req-1']).toEqual({ a: HOLD, u: now + 120_000 });

      await directLedger().settle(repeat.hold, { actual_amount: 0.04, currency: 'USD' });
      const settled = await stored(item);
      expect(settled).toMatchObject({ spent: 40_000, held: 0, holds: {}, remaining: LIMIT - 40_000 });
      expectConsistent(settled);
    },
  );

  it('a hold whose every send was answered late, never repeated, is given back once its time has passed', async () => {
    const item = await newBudget();
    let now = Date.now();
    const ledger = lateLedger(() => now);
    log.setRules([{ ...actionOf('delayed'), match: holdWrite(), times: 3 }]);

    await failureOf(ledger.hold(refOf(item), 'req-lost', now + 1_000, owner));
    log.setRules();
    now += 1_001;
    const next = await ledger.hold(refOf(item), 'req-next', now + 60_000, owner);

    if (!next.ok) throw new Error('the next hold was refused');
    const swept = await stored(item);
    expect(Object.keys(swept.holds)).toEqual(['req-next']);
    expect(swept.held).toBe(HOLD);
    expectConsistent(swept);
    await ledger.release(next.hold);
    expect(await stored(item)).toMatchObject({
      spent: 0,
      held: 0,
      holds: {},
      remaining: LIMIT,
      unheld: LIMIT,
    });
  });

  it.each(LOSSES)(
    'a settlement whose answer was %s: retried, found closed before its time; reported settled once, spent = paid once',
    async (loss) => {
      const item = await newBudget();
      const held = await directLedger().hold(refOf(item), 'req-1', Date.now() + 60_000, owner);
      if (!held.ok) throw new Error('the hold was refused');
      loseNext(loss, settleWrite());
      const { seen: reported, telemetry } = recordingTelemetry();
      const ledger = ledgerOn(new DynamoBudgetStore(lateClient(), tables.names.budgets), { telemetry });

      const status = await ledger.settle(held.hold, { actual_amount: 0.07, currency: 'USD' });

      expect(status).toMatchObject({ limit: LIMIT, remaining: LIMIT - 70_000 });
      expect(await seen()).toEqual([lost('UpdateItem', loss), refused('UpdateItem')]);
      const settled = await stored(item);
      expect(settled).toMatchObject({ spent: 70_000, held: 0, holds: {}, remaining: LIMIT - 70_000 });
      expectConsistent(settled);
      // The BudgetSpend metric (and the settle log line) count the payment once.
      expect(reported).toMatchObject({ settled: 1, paid: 70_000, failed: 0 });
      // The caller repeating the settlement changes nothing.
      await directLedger().settle(held.hold, { actual_amount: 0.07, currency: 'USD' });
      expect(await stored(item)).toEqual(settled);
    },
  );

  it.each(LOSSES)(
    'a release whose answer was %s: retried, found closed; the hold back once, nothing spent',
    async (loss) => {
      const item = await newBudget();
      const held = await directLedger().hold(refOf(item), 'req-1', Date.now() + 60_000, owner);
      if (!held.ok) throw new Error('the hold was refused');
      loseNext(loss, settleWrite());
      const { seen: reported, telemetry } = recordingTelemetry();
      const ledger = ledgerOn(new DynamoBudgetStore(lateClient(), tables.names.budgets), { telemetry });

      const status = await ledger.release(held.hold);

      expect(status).toMatchObject({ remaining: LIMIT });
      expect(reported).toMatchObject({ settled: 1, paid: 0, failed: 0 });
      expect(await seen()).toEqual([lost('UpdateItem', loss), refused('UpdateItem')]);
      const released = await stored(item);
      expect(released).toMatchObject({ spent: 0, held: 0, holds: {}, remaining: LIMIT, unheld: LIMIT });
      await directLedger().release(held.hold);
      expect(await stored(item)).toEqual(released);
    },
  );
});

describe('key lifecycle writes (key-revocation.ts, key-lifecycle.ts through DynamoKeyStore)', () => {
  const lateService = () => keyStoreFor({ doc: lateClient(), names: tables.names }).service;
  const itemOf = async (keyHash: string) => {
    const { Item } = await tables.doc.send(
      new GetCommand({ TableName: tables.names.apiKeys, Key: { key_hash: keyHash }, ConsistentRead: true }),
    );
    return Item as ApiKeyItem;
  };

  async function userWithKeys(count: number, shards?: number) {
    const userId = uniqueUserId('life');
    expectOk(await direct.service.createUser({ userId }));
    const keys = [];
    for (let index = 0; index < count; index += 1) {
      const created = expectOk(await direct.service.createKey({ userId, ...(shards ? { shards } : {}) }));
      keys.push({ keyId: created.key.keyId, apiKey: created.apiKey, keyHash: hashKey(created.apiKey) });
    }
    return { userId, keys };
  }
  const listed = async (userId: string) =>
    expectOk(await direct.service.listKeys({ userId, limit: 100 })).keys;
  const verdictOf = async (apiKey: string) => {
    const result = await direct.service.verify(apiKey);
    return result.ok ? 'ok' : result.reason;
  };

  it.each(LOSSES)(
    'a revocation (the leaked-key path) whose answer was %s: revoked once; a repeat is refused and changes nothing',
    async (loss) => {
      const { keys } = await userWithKeys(1);
      const [key] = keys as [(typeof keys)[0]];
      const revocation = new DynamoKeyRevocation(lateClient(), tables.names.apiKeys);
      const first = new Date();
      loseNext(loss, updateOf(tables.names.apiKeys, 'revoked_reason = :reason'));

      await failureOf(revocation.revoke(key.keyHash, first, 'leaked'));

      const revoked = await itemOf(key.keyHash);
      expect(revoked).toMatchObject({
        status: 'revoked',
        revoked_at: first.toISOString(),
        revoked_reason: 'leaked',
      });
      const repeat = await revocation.revoke(key.keyHash, new Date(first.getTime() + 5_000), 'leaked').then(
        () => expect.fail('the repeat revoked again'),
        (error: unknown) => error,
      );
      expect(repeat).toBeInstanceOf(KeyStateError);
      expect((repeat as KeyStateError).current?.revoked_at).toBe(first.toISOString());
      expect(await itemOf(key.keyHash)).toEqual(revoked);
      expect(await seen()).toEqual([lost('UpdateItem', loss), refused('UpdateItem')]);
      expect(await verdictOf(key.apiKey)).toBe('revoked');
    },
  );

  it('a keys-admin revoke whose answer was late: an error, the key revoked once; the repeat answers key_not_active', async () => {
    const { userId, keys } = await userWithKeys(1);
    const [key] = keys as [(typeof keys)[0]];
    const service = lateService();
    loseNext('delayed', updateOf(tables.names.apiKeys, 'revoked_reason = :reason'));

    await failureOf(service.revokeKey({ userId, keyId: key.keyId }));
    const revoked = await itemOf(key.keyHash);
    const repeat = await service.revokeKey({ userId, keyId: key.keyId });

    expect(revoked.status).toBe('revoked');
    expect(repeat).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
    expect(await itemOf(key.keyHash)).toEqual(revoked);
  });

  it.each(LOSSES)(
    'a rotation claim whose answer was %s: the rotation gives the claim up and fails, nothing issued; the repeat rotates once',
    async (loss) => {
      const { userId, keys } = await userWithKeys(1);
      const [old] = keys as [(typeof keys)[0]];
      const service = lateService();
      loseNext(loss, updateOf(tables.names.apiKeys, 'SET rotation_id = :rid'));

      await failureOf(service.rotate({ userId, keyId: old.keyId, graceSeconds: 0 }));

      // The claim was applied, its answer lost; the rotation's release (same rotation id) removed it.
      const claimWrites = await log.records(updateOf(tables.names.apiKeys, 'SET rotation_id = :rid'));
      const releases = await log.records(updateOf(tables.names.apiKeys, 'REMOVE rotation_id'));
      expect(outcomesOf(claimWrites)).toEqual([lost('UpdateItem', loss)]);
      expect(outcomesOf(releases)).toEqual([applied('UpdateItem')]);
      const released = await itemOf(old.keyHash);
      expect(released.status).toBe('active');
      expect(released).not.toHaveProperty('rotation_id');
      expect(released).not.toHaveProperty('rotated_at');
      expect(await listed(userId)).toHaveLength(1);
      expect(await verdictOf(old.apiKey)).toBe('ok');

      const repeat = expectOk(await service.rotate({ userId, keyId: old.keyId, graceSeconds: 0 }));
      expect(repeat.retired.map((key) => key.keyId)).toEqual([old.keyId]);
      expect(await itemOf(old.keyHash)).toMatchObject({ status: 'revoked', replaced_by: repeat.key.keyId });
      expect((await listed(userId)).map((key) => key.status).sort()).toEqual(['active', 'revoked']);
      expect(await verdictOf(repeat.apiKey)).toBe('ok');
    },
  );

  it.each(LOSSES)(
    'a named rotation whose retire answer was %s: re-read, the new key delivered, the old one retired once',
    async (loss) => {
      const { userId, keys } = await userWithKeys(1);
      const [old] = keys as [(typeof keys)[0]];
      const service = lateService();
      loseNext(loss, updateOf(tables.names.apiKeys, 'rotated_at = :now'));

      const rotated = expectOk(await service.rotate({ userId, keyId: old.keyId, graceSeconds: 0 }));

      expect(rotated.retired.map((key) => key.keyId)).toEqual([old.keyId]);
      const retired = await itemOf(old.keyHash);
      expect(retired).toMatchObject({
        status: 'revoked',
        revoked_reason: 'rotated',
        replaced_by: rotated.key.keyId,
      });
      expect(retired).not.toHaveProperty('rotation_id');
      // The retire write was sent once, and applied once.
      expect((await seen()).filter((record) => record.outcome === loss)).toEqual([lost('UpdateItem', loss)]);
      const again = await service.rotate({ userId, keyId: old.keyId, graceSeconds: 0 });
      expect(again).toMatchObject({ ok: false, error: { code: 'key_not_active' } });
      expect(await itemOf(old.keyHash)).toEqual(retired);
      expect(await listed(userId)).toHaveLength(2);
      expect(await verdictOf(rotated.apiKey)).toBe('ok');
      expect(await verdictOf(old.apiKey)).toBe('revoked');
    },
  );

  it('a rotation of all keys with one retire answered late: re-read, every old key retired once, one new key', async () => {
    const { userId, keys } = await userWithKeys(2);
    const service = lateService();
    loseNext('delayed', updateOf(tables.names.apiKeys, 'rotated_at = :now'));

    const rotated = expectOk(await service.rotate({ userId, graceSeconds: 0 }));

    expect(rotated.retired.map((key) => key.keyId).sort()).toEqual(keys.map((key) => key.keyId).sort());
    for (const key of keys) {
      expect(await itemOf(key.keyHash)).toMatchObject({ status: 'revoked', replaced_by: rotated.key.keyId });
      expect(await verdictOf(key.apiKey)).toBe('revoked');
    }
    const retires = outcomesOf(await log.records(updateOf(tables.names.apiKeys, 'rotated_at = :now')));
    expect(retires).toHaveLength(2);
    expect(retires).toContainEqual(lost('UpdateItem', 'delayed'));
    expect(retires).toContainEqual(applied('UpdateItem'));
    expect((await listed(userId)).filter((key) => key.status === 'active').map((key) => key.keyId)).toEqual([
      rotated.key.keyId,
    ]);
  });

  it.each(LOSSES)(
    'a suspension stamp whose answer was %s: found on the key, counted once; the action completes, no key stamped twice',
    async (loss) => {
      const KEYS = 3;
      const { userId, keys } = await userWithKeys(KEYS);
      const service = lateService();
      const stamp = updateOf(tables.names.apiKeys, 'user_status_version = :version');

      for (const suspended of [true, false]) {
        log.reset();
        loseNext(loss, stamp);
        const first = expectOk(await service.setUserStatus({ userId, suspended }));
        const repeat = expectOk(await service.setUserStatus({ userId, suspended }));

        // The key whose answer was lost was read again: its stamp is there, and counted here.
        expect(first).toMatchObject({ complete: true, keysUpdated: KEYS });
        expect(repeat).toMatchObject({ complete: true, keysUpdated: 0 });
        const items = await Promise.all(keys.map((key) => itemOf(key.keyHash)));
        const version = items[0]?.user_status_version;
        for (const item of items) {
          expect(item.user_status_version).toBe(version);
          expect(item.user_suspended === true).toBe(suspended);
        }
        const stamps = outcomesOf(await log.records(stamp));
        // Each key stamped by one write, none sent twice.
        expect(stamps).toHaveLength(KEYS);
        expect(stamps.filter((record) => record.applied)).toHaveLength(KEYS);
        expect(stamps).toContainEqual(lost('UpdateItem', loss));
        for (const key of keys) expect(await verdictOf(key.apiKey)).toBe(suspended ? 'suspended' : 'ok');
      }
    },
  );

  it.each(LOSSES)(
    'a sharded key whose suspension stamp answer was %s: the repeat stamps every shard, and no shard admits a call',
    async (loss) => {
      const SHARDS = 4;
      const { userId, keys } = await userWithKeys(1, SHARDS);
      const [key] = keys as [(typeof keys)[number]];
      const service = lateService();
      // The key's own item only: its shards take the stamp through the versioned copy.
      loseNext(
        loss,
        (request) =>
          updateOf(tables.names.apiKeys, 'user_status_version = :version')(request) &&
          keyStringOf(request, 'key_hash') === key.keyHash,
      );

      expectOk(await service.setUserStatus({ userId, suspended: true }));
      const repeat = expectOk(await service.setUserStatus({ userId, suspended: true }));

      // However the first answered, the repeat leaves it complete: every shard is stamped.
      expect(repeat).toMatchObject({ complete: true });
      const shardItems = await direct.keys.findShards(key.keyHash, SHARDS);
      expect(shardItems).toHaveLength(SHARDS);
      for (const shard of shardItems) expect(shard.user_suspended).toBe(true);
      // Many calls through a fresh verifier: whichever shard each picks, suspended.
      for (let call = 0; call < 12; call += 1) expect(await verdictOf(key.apiKey)).toBe('suspended');
    },
  );
});
