/**
 * The request path's budget claims (SPEC §3 order, §5b) on DynamoDB Local: the request
 * processor on the real idempotency and budget stores, a budgeted caller, and a brain that
 * answers like the reference brain and keeps the books of what it paid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Micros, micros } from '../../../../shared/domain/budgets/money.js';
import type { BudgetStatus } from '../../../../shared/domain/budgets/state.js';
import { budgetStateOf } from '../../../../shared/domain/budgets/state.js';
import { HttpError } from '../../../../shared/errors.js';
import {
  BUDGET_BODY,
  budgetedCaller,
  budgetInput,
  budgetProcessorOn,
  HOLD_LIFETIME_MS,
  IN_DOUBT_MS,
  outcomeOf,
  payingBrain,
  until,
} from '../../../support/budget-processor.js';
import {
  budgetItemOf,
  budgetStoreOn,
  ledgerOn,
  recordingTelemetry,
  refOf,
} from '../../../support/budgets.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';

const HOLD = micros(100_000);

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('budget-processor');
});
afterAll(async () => {
  await tables.drop();
});

async function budgetOf(limit: Micros, period: 'day' | 'month' | 'total' = 'day', now = new Date()) {
  const store = budgetStoreOn(tables);
  const item = budgetItemOf({ limit, hold: HOLD, period, now });
  await store.create(item);
  return { store, item };
}

async function storedOf(budgetId: string) {
  const stored = await budgetStoreOn(tables).find(budgetId);
  if (!stored) throw new Error(`budget ${budgetId} missing`);
  return stored;
}

const secondsToMidnight = (now: number) =>
  Math.ceil((Date.parse(new Date(now).toISOString().slice(0, 10)) + 86_400_000 - now) / 1000);

describe('50 parallel calls on a budget of exactly 7 holds', () => {
  it.each(['day', 'month', 'total'] as const)(
    '%s: exactly 7 reach the brain, 43 get 429 budget_exceeded, spent = what the brain paid, held back to 0',
    async (period) => {
      const { store, item } = await budgetOf(micros(7 * HOLD), period);
      const brain = payingBrain();
      const { seen, telemetry } = recordingTelemetry();
      const processor = budgetProcessorOn(tables, { store, brain, telemetry });
      const caller = budgetedCaller(item);
      const calls: Promise<unknown>[] = [];
      let refusedSoFar = 0;
      // The brain answers once every call has either reached it or been refused: all 50 run at once.
      brain.gate = until(() => brain.invocations.length + refusedSoFar, 50);

      for (let index = 0; index < 50; index += 1) {
        const statuses: BudgetStatus[] = [];
        calls.push(
          processor
            .api(budgetInput(caller, { onBudget: (status) => statuses.push(status) }))
            .catch((error: unknown) => {
              refusedSoFar += 1;
              throw Object.assign(error as object, { statuses });
            }),
        );
      }
      const outcomes = await Promise.all(calls.map(outcomeOf));
      const started = Date.now();

      const answered = outcomes.filter((outcome) => outcome.ok);
      const refused = outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.error]));
      expect(answered).toHaveLength(7);
      expect(brain.invocations).toHaveLength(7);
      expect(refused).toHaveLength(43);
      for (const error of refused) {
        expect(error).toBeInstanceOf(HttpError);
        const refusal = error as HttpError & { statuses: BudgetStatus[] };
        expect([refusal.code, refusal.status]).toEqual(['budget_exceeded', 429]);
        // What the refused write found: nothing left for a hold (the X-Budget-* numbers of this call).
        expect(refusal.statuses).toHaveLength(1);
        expect(refusal.statuses[0]?.limit).toBe(7 * HOLD);
        expect(refusal.statuses[0]?.remaining).toBeLessThan(HOLD);
        if (period === 'total') {
          expect(refusal.headers['Retry-After']).toBeUndefined();
          expect(refusal.message).toMatch(/lifetime budget of \$0\.700000/);
        } else {
          const retryAfter = Number(refusal.headers['Retry-After']);
          expect(retryAfter).toBeGreaterThan(0);
          if (period === 'day')
            expect(Math.abs(retryAfter - secondsToMidnight(started))).toBeLessThanOrEqual(2);
          else expect(retryAfter).toBeLessThanOrEqual(31 * 86_400);
        }
      }
      // Every brain request carried the hold as its spend limit, and each paid once.
      for (const invocation of brain.invocations) {
        expect(invocation.request.spend_limit).toEqual({ amount: 0.1, currency: 'USD' });
      }
      expect(brain.paid.size).toBe(7);
      const spent = brain.totalPaid();
      expect(spent).toBeGreaterThan(0);
      expect(seen).toMatchObject({ refused: 43, settled: 7, paid: spent, overspent: 0, failed: 0 });

      const stored = await storedOf(item.budget_id);
      expect(stored).toMatchObject({
        spent,
        held: 0,
        holds: {},
        remaining: 7 * HOLD - spent,
        unheld: 7 * HOLD,
      });
      expect(budgetStateOf(stored, new Date())).toMatchObject({
        spent,
        held: 0,
        remaining: 7 * HOLD - spent,
      });
    },
  );

  it('answers a budgeted call with the numbers of its own writes (hold, then settlement)', async () => {
    const { store, item } = await budgetOf(micros(7 * HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });
    const statuses: BudgetStatus[] = [];

    const answer = await processor.api(
      budgetInput(budgetedCaller(item), { onBudget: (status) => statuses.push(status) }),
    );

    expect(answer.statusCode).toBe(200);
    const paid = brain.totalPaid();
    expect(statuses.map((status) => status.remaining)).toEqual([6 * HOLD, 7 * HOLD - paid]);
    expect(statuses.every((status) => status.limit === 7 * HOLD && (status.resetSeconds ?? 0) > 0)).toBe(
      true,
    );
  });

  it('a rejected answer pays nothing and gives the hold back whole', async () => {
    const { store, item } = await budgetOf(micros(HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });

    // The estimate (gpt-4o, 40,000 output tokens ≈ 0.40 USD) is above the 0.10 hold: the brain refuses it.
    const answer = await processor.api(
      budgetInput(budgetedCaller(item), { body: { ...BUDGET_BODY, model: 'gpt-4o', max_tokens: 40_000 } }),
    );

    expect(answer.body).toMatchObject({
      success: false,
      decision: { outcome: 'rejected', policy_violations: ['spend_limit'] },
      payment: null,
    });
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: 0, held: 0, remaining: HOLD, holds: {} });
  });

  it('a call refused before the hold (scopes, a bad body) takes no hold', async () => {
    const { store, item } = await budgetOf(micros(HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });
    const caller = { ...budgetedCaller(item), scopes: { providers: ['anthropic'] } };

    const outcomes = await Promise.all([
      outcomeOf(processor.api(budgetInput(caller))),
      outcomeOf(processor.api(budgetInput(budgetedCaller(item), { body: { provider: 'openai' } }))),
    ]);

    expect(outcomes.map((outcome) => !outcome.ok && (outcome.error as HttpError).code)).toEqual([
      'forbidden',
      'invalid_request',
    ]);
    expect(brain.invocations).toHaveLength(0);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: 0, held: 0, remaining: HOLD, holds: {} });
  });
});

describe('idempotency and the budget', () => {
  it('a replay takes no hold and pays nothing, even once the budget is spent', async () => {
    const { store, item } = await budgetOf(micros(HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });
    const caller = budgetedCaller(item);

    const first = await processor.api(budgetInput(caller, { idempotencyKey: 'replay-1' }));
    const after = await storedOf(item.budget_id);
    expect(after).toMatchObject({ spent: brain.totalPaid(), held: 0 });
    // What is left (0.10 minus the payment) no longer covers a hold: a new call is refused.
    const refused = await outcomeOf(processor.api(budgetInput(caller)));
    expect(!refused.ok && (refused.error as HttpError).code).toBe('budget_exceeded');

    const statuses: BudgetStatus[] = [];
    const replay = await processor.api(
      budgetInput(caller, { idempotencyKey: 'replay-1', onBudget: (status) => statuses.push(status) }),
    );

    expect(replay).toMatchObject({ replayed: true, requestId: first.requestId, statusCode: 200 });
    expect(replay.body).toEqual(first.body);
    expect(brain.invocations).toHaveLength(1);
    expect(statuses).toEqual([]);
    expect(await storedOf(item.budget_id)).toEqual(after);
  });

  it('a repeat of an Idempotency-Key in doubt keeps the hold, and the repeat settles it once under the same request_id', async () => {
    const { store, item } = await budgetOf(micros(3 * HOLD));
    let now = Date.now();
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain, clock: () => now });
    const caller = budgetedCaller(item);
    // The first attempt reaches the brain, which pays; its answer is lost (a 504).
    brain.script = (_request, nth) => (nth === 1 ? 'lost' : 'answer');

    const first = await outcomeOf(processor.api(budgetInput(caller, { idempotencyKey: 'doubt-1' })));
    expect(!first.ok && (first.error as HttpError).code).toBe('brain_timeout');
    const firstRequestId = brain.invocations[0]?.request.request_id ?? '';
    const inDoubt = await storedOf(item.budget_id);
    expect(inDoubt).toMatchObject({ spent: 0, held: HOLD, remaining: 2 * HOLD });
    expect(Object.keys(inDoubt.holds)).toEqual([firstRequestId]);

    // While in doubt a repeat is refused (409) and takes no second hold.
    const early = await outcomeOf(processor.api(budgetInput(caller, { idempotencyKey: 'doubt-1' })));
    expect(!early.ok && (early.error as HttpError).code).toBe('idempotency_conflict');
    expect(await storedOf(item.budget_id)).toEqual(inDoubt);

    // Once the brain has surely stopped, the repeat runs as the same request, on the same hold.
    now += IN_DOUBT_MS + 1;
    const repeat = await processor.api(budgetInput(caller, { idempotencyKey: 'doubt-1' }));

    expect(repeat).toMatchObject({ statusCode: 200, requestId: firstRequestId, replayed: false });
    expect(brain.invocations.map((invocation) => invocation.request.request_id)).toEqual([
      firstRequestId,
      firstRequestId,
    ]);
    expect(brain.invocations[1]?.request.spend_limit).toEqual({ amount: 0.1, currency: 'USD' });
    expect(brain.paid.size).toBe(1);
    const stored = await storedOf(item.budget_id);
    expect(stored).toMatchObject({
      spent: brain.totalPaid(),
      held: 0,
      holds: {},
      remaining: 3 * HOLD - brain.totalPaid(),
    });
  });

  it('a repeat that comes after its hold was given back holds again under the same request_id and counts the payment once', async () => {
    const { store, item } = await budgetOf(micros(3 * HOLD));
    let now = Date.now();
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain, clock: () => now });
    const caller = budgetedCaller(item);
    brain.script = (_request, nth) => (nth === 1 ? 'lost' : 'answer');

    await outcomeOf(processor.api(budgetInput(caller, { idempotencyKey: 'doubt-2' })));
    const firstRequestId = brain.invocations[0]?.request.request_id ?? '';
    // Past the hold's time another call of the key sweeps it back.
    now += HOLD_LIFETIME_MS + 1;
    const other = await processor.api(budgetInput(caller));
    expect(other.statusCode).toBe(200);
    const swept = await storedOf(item.budget_id);
    expect(swept.holds).toEqual({});
    expect(swept.held).toBe(0);

    const repeat = await processor.api(budgetInput(caller, { idempotencyKey: 'doubt-2' }));

    expect(repeat.requestId).toBe(firstRequestId);
    expect(brain.invocations.map((invocation) => invocation.request.request_id)).toEqual([
      firstRequestId,
      other.requestId,
      firstRequestId,
    ]);
    expect(brain.paid.size).toBe(2);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: brain.totalPaid(), held: 0, holds: {} });
  });

  it('a brain failure that did not act releases the hold and the key may be retried at once', async () => {
    const { store, item } = await budgetOf(micros(HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });
    const caller = budgetedCaller(item);
    brain.script = (_request, nth) => (nth === 1 ? 'fail' : nth === 2 ? 'throttle' : 'answer');

    const failed = await outcomeOf(processor.api(budgetInput(caller, { idempotencyKey: 'fail-1' })));
    const throttled = await outcomeOf(processor.api(budgetInput(caller, { idempotencyKey: 'fail-1' })));
    expect([failed, throttled].map((outcome) => !outcome.ok && (outcome.error as HttpError).code)).toEqual([
      'brain_error',
      'brain_unavailable',
    ]);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: 0, held: 0, remaining: HOLD, holds: {} });

    const answered = await processor.api(budgetInput(caller, { idempotencyKey: 'fail-1' }));
    expect(answered.statusCode).toBe(200);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: brain.totalPaid(), held: 0, holds: {} });
  });
});

describe('overspend and foreign payments', () => {
  it('an overspend is recorded in full and refuses the key until the period resets', async () => {
    const { store, item } = await budgetOf(micros(10 * HOLD));
    let now = Date.now();
    const brain = payingBrain();
    const { seen, telemetry } = recordingTelemetry();
    const processor = budgetProcessorOn(tables, { store, brain, telemetry, clock: () => now });
    const caller = budgetedCaller(item);

    await processor.api(
      budgetInput(caller, { body: { ...BUDGET_BODY, provider: 'reference', model: 'test-overspend' } }),
    );

    expect(brain.totalPaid()).toBe(2 * HOLD + 1);
    expect(seen.overspent).toBe(1);
    const stored = await storedOf(item.budget_id);
    expect(stored).toMatchObject({
      spent: 2 * HOLD + 1,
      overspent: HOLD + 1,
      held: 0,
      remaining: 8 * HOLD - 1,
    });
    expect(stored.blocked_period).toBe(stored.period_start);
    const refused = await outcomeOf(processor.api(budgetInput(caller)));
    expect(!refused.ok && (refused.error as HttpError).code).toBe('budget_exceeded');
    expect(brain.invocations).toHaveLength(1);

    now += secondsToMidnight(now) * 1000;
    expect((await processor.api(budgetInput(caller))).statusCode).toBe(200);
    expect(brain.invocations).toHaveLength(2);
  });

  it('a payment in another currency is recorded, blocks the key, and is not counted as USD', async () => {
    const { store, item } = await budgetOf(micros(10 * HOLD));
    const brain = payingBrain();
    const { seen, telemetry } = recordingTelemetry();
    const processor = budgetProcessorOn(tables, { store, brain, telemetry });
    const caller = budgetedCaller(item);

    const answer = await processor.api(
      budgetInput(caller, {
        body: { ...BUDGET_BODY, provider: 'reference', model: 'test-foreign-currency' },
      }),
    );

    const euros = (answer.body as { payment: { actual_amount: number } }).payment.actual_amount;
    expect(seen.foreign).toBe(1);
    const stored = await storedOf(item.budget_id);
    expect(stored).toMatchObject({
      spent: 0,
      held: 0,
      remaining: 10 * HOLD,
      foreign_paid: { EUR: Math.round(euros * 1e6) },
    });
    expect(stored.blocked_period).toBe(stored.period_start);
    const refused = await outcomeOf(processor.api(budgetInput(caller)));
    expect(!refused.ok && (refused.error as HttpError).code).toBe('budget_exceeded');
  });
});

describe('holds that outlived their calls', () => {
  it('are given back before a call is refused, however many there are', async () => {
    const count = 150;
    const { store, item } = await budgetOf(micros(count * HOLD));
    let now = Date.now();
    const ledger = ledgerOn(store, { clock: () => now });
    const owner = { keyId: item.key_id, userId: item.user_id };
    const held = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        ledger.hold(refOf(item), `crashed-${index}`, now + 1_000, owner),
      ),
    );
    expect(held.every((outcome) => outcome.ok)).toBe(true);
    expect(await storedOf(item.budget_id)).toMatchObject({ held: count * HOLD, remaining: 0 });

    now += 1_001;
    const next = await ledger.hold(refOf(item), 'after-the-crash', now + 1_000, owner);

    expect(next.ok).toBe(true);
    const stored = await storedOf(item.budget_id);
    expect(budgetStateOf(stored, new Date(now))).toMatchObject({ held: HOLD, remaining: (count - 1) * HOLD });
    expect(stored.held).toBe(Object.values(stored.holds).reduce((sum, hold) => sum + hold.a, 0));
    expect(stored.remaining).toBe(stored.budget_limit - stored.spent - stored.held);

    // Each write gives back a batch (a condition expression names at most ~75 holds); the next calls sweep the rest.
    for (const index of [1, 2, 3]) {
      expect((await ledger.hold(refOf(item), `after-the-crash-${index}`, now + 1_000, owner)).ok).toBe(true);
    }
    const swept = await storedOf(item.budget_id);
    expect(Object.keys(swept.holds).sort()).toEqual([
      'after-the-crash',
      'after-the-crash-1',
      'after-the-crash-2',
      'after-the-crash-3',
    ]);
    expect(swept).toMatchObject({
      held: 4 * HOLD,
      remaining: (count - 4) * HOLD,
      unheld: (count - 4) * HOLD,
    });
  });
});
