/**
 * The money invariant of SPEC §3, through the real local stack over HTTPS: one
 * Idempotency-Key never makes the brain act twice. Every attempt of a key sends the brain
 * the first attempt's request_id; after a 504 or an answer outside the contract repeats get
 * 409 with Retry-After until the brain's own time limit has surely passed, then the key is
 * retried as the same request; a brain-reported failure releases the key at once, a function
 * error (even one named like a throttle) is in doubt; another key of the same user never
 * replays the decision; a 2 MB answer is stored compressed and replayed; an answer too large to store is
 * answered but never replayed nor re-asked.
 *
 * The brain is the REAL reference brain (functions/reference-brain/handler.ts), only counted
 * (tests/support/counting-brain.ts): each invocation's request_id and answer are recorded, so
 * every case asserts the exact number of brain invocations, and payment_ids (derived from the
 * request_id by the reference brain) show whether it could have paid twice. It is slowed in
 * one scripted way only: agent_id `slow-once` makes the first invocation of a request_id
 * answer after the requests function gave up (504), later ones answer at once (or, where a
 * test says so, are held briefly while concurrent repeats arrive).
 *
 * Each case has its own user and key, so the cases run concurrently.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { SETTLE_MARGIN_MS } from '../../shared/domain/requests/process.js';
import { CHAT_BODY, modelBody } from '../e2e/support/https.js';
import { startTestStack } from '../e2e/support/stack.js';
import { expectApiAnswer } from '../support/answer-checks.js';
import { type ApiClient, createApiClient, type TimedAnswer } from '../support/api-client.js';
import {
  type BrainCall,
  type CountingBrain,
  countingBrain,
  SLOW_ONCE_AGENT,
} from '../support/counting-brain.js';
import { idempotencyRecordsFor } from '../support/idempotency-records.js';
import { type IssuedKey, type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';

/** How long the requests function waits for the brain (→ 504). */
const BRAIN_WAIT_MS = 2500;
/** The brain's own time limit (its local timeout): past it an invocation has surely ended. */
const BRAIN_MAX_MS = 3500;
/** A repeat after a 504 waits at most this long after the brain was invoked. */
const IN_DOUBT_MS = BRAIN_MAX_MS + SETTLE_MARGIN_MS;
const IN_DOUBT_SECONDS = Math.ceil(IN_DOUBT_MS / 1000);
/** slow-once: the first invocation answers this late, past the wait, within the brain's limit. */
const SLOW_FIRST_MS = 3000;
/** A held retry answers at the latest after this, well within the wait. */
const HOLD_MAX_MS = 1800;
const PARALLEL = 8;

const CANNOT_REPLAY = /cannot be replayed/;
const STILL_RUNNING = /still being processed/;
const IN_DOUBT = /may have reached the brain/;

let stack: LocalStack;
let api: ApiClient;
let admin: KeysAdminClient;
let doc: DynamoDBDocumentClient;
let brain: CountingBrain;

beforeAll(async () => {
  brain = await countingBrain({ slowFirstMs: SLOW_FIRST_MS });
  stack = await startTestStack({
    brainTimeoutMs: BRAIN_WAIT_MS,
    functionTimeoutsMs: { 'reference-brain': BRAIN_MAX_MS },
    handlerOverrides: { 'reference-brain': brain.handler },
  });
  api = createApiClient(stack);
  admin = keysAdminClient(stack.lambdaUrl);
  doc = createDocumentClient({ endpoint: stack.dynamodbEndpoint, maxAttempts: 1 });
});

afterAll(async () => {
  api?.close();
  admin?.close();
  doc?.destroy();
  await stack?.stop();
});

interface Caller extends IssuedKey {
  send(body: string, idempotencyKey: string): Promise<TimedAnswer>;
  /** `count` identical calls at once. */
  burst(body: string, idempotencyKey: string, count?: number): Promise<TimedAnswer[]>;
  brainCalls(): BrainCall[];
  records(idempotencyKey: string): ReturnType<typeof idempotencyRecordsFor>;
}

async function newCaller(label: string): Promise<Caller> {
  const issued = await admin.createUserWithKey(`money-${label}-${randomUUID().slice(0, 8)}`);
  const send = (body: string, idempotencyKey: string) =>
    api.call({
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${issued.apiKey}`,
        'Idempotency-Key': idempotencyKey,
      },
      body,
    });
  return {
    ...issued,
    send,
    burst: (body, idempotencyKey, count = PARALLEL) =>
      Promise.all(Array.from({ length: count }, () => send(body, idempotencyKey))),
    brainCalls: () => brain.callsOf(issued.userId),
    records: (idempotencyKey) =>
      idempotencyRecordsFor(doc, stack.tableNames.idempotency, issued.userId, idempotencyKey),
  };
}

const body = (fields: Record<string, unknown>) => JSON.stringify({ ...CHAT_BODY, ...fields });
const SLOW_ONCE_BODY = body({ agent_id: SLOW_ONCE_AGENT });
const newKey = (label: string) => `${label}-${randomUUID()}`;

const retryAfterOf = (answer: TimedAnswer) => {
  const header = answer.headers['retry-after'];
  return header === undefined ? undefined : Number(header);
};
const contentOf = (success: Record<string, unknown> | undefined) =>
  (success?.response as { content?: string } | undefined)?.content;
const paymentIdOf = (answer: TimedAnswer) =>
  (answer.json as { payment?: { payment_id?: string } | null }).payment?.payment_id;

/** A 409 idempotency_conflict whose message matches; returns its Retry-After (seconds) if any. */
function expectConflict(answer: TimedAnswer, message: RegExp, label: string): number | undefined {
  const { envelope } = expectApiAnswer(answer, [409], label);
  expect(envelope?.error.code, label).toBe('idempotency_conflict');
  expect(envelope?.error.message, label).toMatch(message);
  return retryAfterOf(answer);
}

/** A 409 "may have reached the brain, retry later" with a Retry-After within the in-doubt window. */
function expectInDoubt(answer: TimedAnswer, label: string): number {
  const retryAfter = expectConflict(answer, IN_DOUBT, label);
  expect(retryAfter, `${label}: Retry-After`).toBeGreaterThanOrEqual(1);
  expect(retryAfter, `${label}: Retry-After`).toBeLessThanOrEqual(IN_DOUBT_SECONDS);
  return retryAfter ?? IN_DOUBT_SECONDS;
}

/** A 200 answered by the brain now (not a replay), carrying `requestId` in body and header. */
function expectFirstHand(answer: TimedAnswer, requestId: string, label: string) {
  const { success } = expectApiAnswer(answer, [200], label);
  expect(answer.headers['idempotent-replayed'], label).toBeUndefined();
  expect(answer.headers['x-request-id'], label).toBe(requestId);
  expect(success?.request_id, label).toBe(requestId);
}

/** A replayed 200: the original answer, request_id and all. */
function expectReplay(answer: TimedAnswer, original: TimedAnswer, label: string) {
  expectApiAnswer(answer, [200], label);
  expect(answer.headers['idempotent-replayed'], label).toBe('true');
  expect(answer.headers['x-request-id'], label).toBe(original.headers['x-request-id']);
  expect(answer.json, label).toEqual(original.json);
}

async function waitFor(condition: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(20);
  }
  return false;
}

describe.concurrent('one Idempotency-Key never makes the brain act twice', () => {
  it(`${PARALLEL} concurrent repeats in each state: in progress and in doubt all 409, after the window exactly one reaches the brain, completed all replay`, async () => {
    const caller = await newCaller('parallel');
    const key = newKey('parallel');

    // in_progress: the first attempt is still waiting for the (slow) brain. The brain being
    // invoked means the key is claimed; the burst goes at once, well within the brain wait.
    const pending = caller.send(SLOW_ONCE_BODY, key);
    const invoked = await waitFor(async () => caller.brainCalls().length === 1, BRAIN_WAIT_MS);
    expect(invoked, 'the first attempt reached the brain').toBe(true);
    const whileRunning = await caller.burst(SLOW_ONCE_BODY, key);
    const first = await pending;
    expect(expectApiAnswer(first, [504], 'first').envelope?.error.code).toBe('brain_timeout');
    const originalId = String(first.headers['x-request-id']);
    whileRunning.forEach((answer, index) => {
      const retryAfter = expectConflict(answer, STILL_RUNNING, `in progress #${index}`);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil(BRAIN_WAIT_MS / 1000));
    });
    expect(caller.brainCalls()).toHaveLength(1);

    // in_doubt: the brain may still be working on it.
    const whileInDoubt = await caller.burst(SLOW_ONCE_BODY, key);
    const waits = whileInDoubt.map((answer, index) => expectInDoubt(answer, `in doubt #${index}`));
    expect(caller.brainCalls()).toHaveLength(1);

    // After the window: one repeat takes the key over and reaches the brain (held until the
    // others have answered, within the brain wait); the others see it running.
    await sleep(Math.max(...waits) * 1000);
    const release = brain.holdRepeats(caller.userId, HOLD_MAX_MS);
    let answered = 0;
    const afterWindow = await Promise.all(
      Array.from({ length: PARALLEL }, () =>
        caller.send(SLOW_ONCE_BODY, key).then((answer) => {
          answered += 1;
          if (answered === PARALLEL - 1) release();
          return answer;
        }),
      ),
    );
    release();
    const served = afterWindow.filter((answer) => answer.status === 200);
    expect(served).toHaveLength(1);
    const winner = served[0] as TimedAnswer;
    expectFirstHand(winner, originalId, 'the one retry');
    afterWindow
      .filter((answer) => answer !== winner)
      .forEach((answer, index) => {
        expectConflict(answer, STILL_RUNNING, `after the window #${index}`);
      });
    const calls = caller.brainCalls();
    expect(calls.map((call) => [call.requestId, call.nth])).toEqual([
      [originalId, 1],
      [originalId, 2],
    ]);

    // completed: every repeat replays the one answer.
    const completed = await caller.burst(SLOW_ONCE_BODY, key);
    completed.forEach((answer, index) => {
      expectReplay(answer, winner, `completed #${index}`);
    });
    expect(caller.brainCalls()).toHaveLength(2);
    await Promise.all(calls.map((call) => call.done));
    expect(new Set(calls.map((call) => brain.paymentIdOf(call)))).toEqual(new Set([paymentIdOf(winner)]));
  });

  it('a repeat after the in-doubt window reaches the brain again with the SAME request_id and gets the first payment', async () => {
    const caller = await newCaller('window');
    const key = newKey('window');

    const first = await caller.send(SLOW_ONCE_BODY, key);
    const during = await caller.send(SLOW_ONCE_BODY, key);
    const retryAfter = expectInDoubt(during, 'repeat during the window');
    await sleep(retryAfter * 1000);
    const after = await caller.send(SLOW_ONCE_BODY, key);
    const replay = await caller.send(SLOW_ONCE_BODY, key);

    expect(expectApiAnswer(first, [504], 'first').envelope?.error.code).toBe('brain_timeout');
    const originalId = String(first.headers['x-request-id']);
    expectFirstHand(after, originalId, 'repeat after Retry-After');
    expectReplay(replay, after, 'further repeat');

    const calls = caller.brainCalls();
    expect(calls.map((call) => [call.requestId, call.nth])).toEqual([
      [originalId, 1],
      [originalId, 2],
    ]);
    await Promise.all(calls.map((call) => call.done));
    // The brain's first (late) answer paid; the retry is the same request, the same payment.
    const latePayment = brain.paymentIdOf(calls[0] as BrainCall);
    expect(latePayment).toMatch(/^pay_/);
    expect(paymentIdOf(after)).toBe(latePayment);
    expect(brain.paymentIdOf(calls[1] as BrainCall)).toBe(latePayment);
    const records = await caller.records(key);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'completed', request_id: originalId, attempt: 2 });
  });

  it.each([
    { label: 'honouring Retry-After', honoursRetryAfter: true },
    { label: 'ignoring Retry-After (every 250 ms)', honoursRetryAfter: false },
  ])(
    'a blind retrier $label until it gets a 200 makes the brain see one request_id and one payment',
    async ({ honoursRetryAfter }) => {
      const caller = await newCaller('blind');
      const key = newKey('blind');

      const statuses: number[] = [];
      let last: TimedAnswer | undefined;
      for (let attempt = 0; attempt < 60 && last?.status !== 200; attempt += 1) {
        last = await caller.send(SLOW_ONCE_BODY, key);
        statuses.push(last.status);
        if (last.status === 200) break;
        const retryAfter = retryAfterOf(last);
        await sleep(honoursRetryAfter && retryAfter !== undefined ? retryAfter * 1000 : 250);
      }

      expect(last?.status).toBe(200);
      expect(statuses[0]).toBe(504);
      expect(statuses.slice(1, -1).every((status) => status === 409)).toBe(true);
      if (honoursRetryAfter) expect(statuses).toEqual([504, 409, 200]);
      const calls = caller.brainCalls();
      await Promise.all(calls.map((call) => call.done));
      expect(calls).toHaveLength(2);
      expect(new Set(calls.map((call) => call.requestId))).toEqual(new Set([last?.headers['x-request-id']]));
      const payments = new Set(calls.map((call) => brain.paymentIdOf(call)));
      expect(payments.size).toBe(1);
      expect(payments).toEqual(new Set([paymentIdOf(last as TimedAnswer)]));
    },
  );

  it('a timed-out request (test-timeout) is in doubt: its immediate repeat gets 409 with Retry-After, the brain ran once', async () => {
    const caller = await newCaller('timeout');
    const key = newKey('timeout');

    const first = await caller.send(modelBody('reference', 'test-timeout'), key);
    const repeat = await caller.send(modelBody('reference', 'test-timeout'), key);

    const { envelope } = expectApiAnswer(first, [504], 'first');
    expect(envelope?.error.code).toBe('brain_timeout');
    expectInDoubt(repeat, 'immediate repeat');
    const calls = caller.brainCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.requestId).toBe(first.headers['x-request-id']);
    const records = await caller.records(key);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'in_doubt', request_id: calls[0]?.requestId, attempt: 1 });
  });

  it('an answer outside the contract (test-malformed) is in doubt: 502, then 409 with Retry-After, the brain ran once', async () => {
    const caller = await newCaller('malformed');
    const key = newKey('malformed');

    const first = await caller.send(modelBody('reference', 'test-malformed'), key);
    const repeat = await caller.send(modelBody('reference', 'test-malformed'), key);

    expect(expectApiAnswer(first, [502], 'first').envelope?.error.code).toBe('brain_error');
    expectInDoubt(repeat, 'immediate repeat');
    expect(caller.brainCalls()).toHaveLength(1);
    const records = await caller.records(key);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'in_doubt', request_id: first.headers['x-request-id'] });
  });

  it('a function error that looks like a throttle (test-throttle) is in doubt: 503, then 409, the brain ran once with one request_id', async () => {
    // The brain's code ran and threw: it may have paid before its provider throttled it. Only
    // Lambda's own 429 on the Invoke proves the brain did not act.
    const caller = await newCaller('throttle');
    const key = newKey('throttle');

    const first = await caller.send(modelBody('reference', 'test-throttle'), key);
    const repeat = await caller.send(modelBody('reference', 'test-throttle'), key);

    expect(expectApiAnswer(first, [503], 'first').envelope?.error.code).toBe('brain_unavailable');
    expectInDoubt(repeat, 'immediate repeat');
    expect(caller.brainCalls()).toHaveLength(1);
    const records = await caller.records(key);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'in_doubt', request_id: first.headers['x-request-id'] });
  });

  it.each([{ model: 'test-error', status: 502, code: 'brain_error' }])(
    '$model (the brain did not act) releases the key at once: the immediate repeat asks the brain again, no 409',
    async ({ model, status, code }) => {
      const caller = await newCaller(model);
      const key = newKey(model);

      const first = await caller.send(modelBody('reference', model), key);
      const repeat = await caller.send(modelBody('reference', model), key);
      const recordsAfter = await caller.records(key);
      // Released: the key may even be used with another body, as a new request.
      const other = await caller.send(JSON.stringify(CHAT_BODY), key);

      for (const [answer, label] of [
        [first, 'first'],
        [repeat, 'immediate repeat'],
      ] as const) {
        expect(expectApiAnswer(answer, [status], label).envelope?.error.code, label).toBe(code);
        expect(answer.headers['retry-after'], label).toBeUndefined();
      }
      expect(recordsAfter).toHaveLength(0);
      expectFirstHand(other, String(other.headers['x-request-id']), 'another body');
      const ids = caller.brainCalls().map((call) => call.requestId);
      expect(ids).toEqual([
        first.headers['x-request-id'],
        repeat.headers['x-request-id'],
        other.headers['x-request-id'],
      ]);
      expect(new Set(ids).size).toBe(3);
    },
  );

  it('another key of the same user, in another project, never replays the first key’s decision', async () => {
    const caller = await newCaller('two-keys');
    const other = await admin.expectOk({
      action: 'create',
      userId: caller.userId,
      name: 'second project',
      projectId: 'proj-other',
    });
    if (!other.apiKey) throw new Error('keys-admin create answered without a key');
    const key = newKey('two-keys');

    const first = await caller.send(JSON.stringify(CHAT_BODY), key);
    const fromOtherKey = await api.call({
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${other.apiKey}`,
        'Idempotency-Key': key,
      },
      body: JSON.stringify(CHAT_BODY),
    });

    expectFirstHand(first, String(first.headers['x-request-id']), 'first key');
    expect(expectApiAnswer(fromOtherKey, [409], 'other key').envelope?.error.code).toBe(
      'idempotency_conflict',
    );
    expect(fromOtherKey.headers['idempotent-replayed']).toBeUndefined();
    expect(caller.brainCalls()).toHaveLength(1);
  });

  it('a 2 MB answer (test-large) is stored compressed and replayed identical, the brain ran once', async () => {
    const caller = await newCaller('large');
    const key = newKey('large');
    const large = body({ provider: 'reference', model: 'test-large', max_tokens: 2_000_000 });

    const first = await caller.send(large, key);
    const records = await caller.records(key);
    const replay = await caller.send(large, key);

    const { success } = expectApiAnswer(first, [200], 'first');
    expect(contentOf(success)).toHaveLength(2_000_000);
    expect(first.text.length).toBeGreaterThan(2_000_000);
    expect(records).toHaveLength(1);
    const record = records[0];
    expect(record?.status).toBe('completed');
    expect(record?.answer_bytes).toBe(Buffer.byteLength(first.text));
    expect(record?.answer_body?.byteLength).toBeLessThan(400_000);
    expectReplay(replay, first, 'replay');
    expect(replay.text).toBe(first.text);
    expect(caller.brainCalls()).toHaveLength(1);
  });

  it(`an answer too large to store (test-incompressible) is answered in full; ${PARALLEL} concurrent repeats, and a repeat after the window, all get 409 "cannot be replayed"`, async () => {
    const caller = await newCaller('oversized');
    const key = newKey('oversized');
    const oversized = body({ provider: 'reference', model: 'test-incompressible', max_tokens: 1_000_000 });

    const startedAt = Date.now();
    const first = await caller.send(oversized, key);
    const repeats = await caller.burst(oversized, key);
    // Long after the brain's time limit: still never a second brain call.
    await sleep(Math.max(0, startedAt + IN_DOUBT_MS + 200 - Date.now()));
    const late = await caller.send(oversized, key);

    const { success } = expectApiAnswer(first, [200], 'first');
    expect(contentOf(success)).toHaveLength(1_000_000);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (const [index, answer] of [...repeats, late].entries()) {
      const label = index < repeats.length ? `concurrent repeat #${index}` : 'repeat after the window';
      expect(expectConflict(answer, CANNOT_REPLAY, label), `${label}: Retry-After`).toBeUndefined();
      expect((answer.json as { error: { message: string } }).error.message, label).toContain(
        String(first.headers['x-request-id']),
      );
    }
    const records = await caller.records(key);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'unreplayable', request_id: first.headers['x-request-id'] });
    expect(records[0]?.answer_body).toBeUndefined();
    expect(records[0]?.answer_bytes).toBe(Buffer.byteLength(first.text));
    expect(caller.brainCalls()).toHaveLength(1);
  });
});
