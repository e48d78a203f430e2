/**
 * No hold lost, none released twice, every payment counted once (SPEC §5b), proven fault by
 * fault on DynamoDB Local. The request processor runs on the real idempotency store and on
 * the real budget store behind a switch (tests/support/faulty-budgets.ts) that fails one
 * call — hold, extendHold, settle or releaseExpired — before it reaches DynamoDB (nothing
 * written), after DynamoDB applied it (the answer lost), or never returns (the handler died
 * there); or the brain times out before acting, acts and loses its answer, reports a failure,
 * is throttled, answers outside the contract, or never answers (the handler is abandoned
 * after the hold). The brain decides and pays once per request_id, as SPEC §4 requires.
 *
 * Three situations, each with the store calls its undisturbed run makes (pinned by the first
 * test, so a fault is injected at every one of them):
 * - `plain`: a call on a budget with room, where an older crashed call left an expired hold
 *   (the call's hold sweeps it): hold, releaseExpired, settle;
 * - `full`: a budget of one hold that an expired hold occupies (the refused hold sweeps, then
 *   holds again): hold, releaseExpired, hold, settle;
 * - `repeat`: the repeat of an Idempotency-Key whose first attempt was in doubt (the brain
 *   paid, its answer was lost): hold (refused: the hold is the call's own), extendHold, settle.
 *
 * After each faulted call the stored amounts are consistent (remaining = limit − spent − held,
 * unheld = limit − held, held = the sum of the open holds). Once the in-doubt window has
 * passed (an injected clock), `held` is 0 as budgetStateOf reads the item; then the same
 * Idempotency-Key is repeated (200: a replay, or the same request settled, or a new one) and
 * a later hold sweeps: the stored item holds nothing and `spent` is exactly what the brain paid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetItem } from '../../shared/domain/budgets/model.js';
import { micros } from '../../shared/domain/budgets/money.js';
import { budgetStateOf } from '../../shared/domain/budgets/state.js';
import type { HttpError } from '../../shared/errors.js';
import {
  type BrainBehaviour,
  budgetedCaller,
  budgetInput,
  budgetProcessorOn,
  HOLD_LIFETIME_MS,
  IN_DOUBT_MS,
  outcomeOf,
  type PayingBrain,
  payingBrain,
} from '../support/budget-processor.js';
import { budgetItemOf, budgetStoreOn, ledgerOn, recordingTelemetry, refOf } from '../support/budgets.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import {
  type BudgetCall,
  type BudgetFault,
  type BudgetFaultKind,
  BudgetFaults,
  faultyBudgetStore,
} from '../support/faulty-budgets.js';

const HOLD = micros(100_000);

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('budget-faults');
});
afterAll(async () => tables.drop());

type Situation = 'plain' | 'full' | 'repeat';

const TRACES: Record<Situation, string[]> = {
  plain: ['budgets.hold#1', 'budgets.releaseExpired#1', 'budgets.settle#1'],
  full: ['budgets.hold#1', 'budgets.releaseExpired#1', 'budgets.hold#2', 'budgets.settle#1'],
  repeat: ['budgets.hold#1', 'budgets.extendHold#1', 'budgets.settle#1'],
};

interface Case {
  item: BudgetItem;
  brain: PayingBrain;
  idempotencyKey: string;
  /** The clock of the faulted call. */
  now: number;
}

let sequence = 0;

/** A budget, and what happened before the faulted call: an expired hold, or a first attempt in doubt. */
async function prepare(situation: Situation): Promise<Case> {
  sequence += 1;
  const store = budgetStoreOn(tables);
  const start = Date.now();
  const item = budgetItemOf({
    limit: micros((situation === 'full' ? 1 : 3) * HOLD),
    hold: HOLD,
    now: new Date(start),
  });
  item.user_id = `budget-faults-${sequence}`;
  await store.create(item);
  const brain = payingBrain();
  const idempotencyKey = `faults-${sequence}`;
  if (situation !== 'repeat') {
    // An older call that died after its hold: its hold's time has passed.
    const crashed = await store.hold({
      budgetId: item.budget_id,
      requestId: `crashed-${sequence}`,
      amount: HOLD,
      period: item.budget_period,
      periodStart: item.period_start,
      fresh: false,
      until: start - 1,
    });
    expect(crashed.ok).toBe(true);
    return { item, brain, idempotencyKey, now: start };
  }
  // The first attempt reached the brain, which paid; its answer was lost (504: in doubt).
  brain.script = () => 'lost';
  const first = await outcomeOf(
    budgetProcessorOn(tables, { store, brain, clock: () => start }).api(
      budgetInput(budgetedCaller(item), { idempotencyKey }),
    ),
  );
  expect(!first.ok && (first.error as HttpError).code).toBe('brain_timeout');
  brain.script = () => 'answer';
  return { item, brain, idempotencyKey, now: start + IN_DOUBT_MS + 1 };
}

async function storedOf(budgetId: string): Promise<BudgetItem> {
  const stored = await budgetStoreOn(tables).find(budgetId);
  if (!stored) throw new Error(`budget ${budgetId} missing`);
  return stored;
}

/** The stored amounts agree with each other and with the open holds. */
function expectConsistent(stored: BudgetItem) {
  const openHolds = Object.values(stored.holds).reduce((sum, hold) => sum + hold.a, 0);
  expect(stored.held).toBe(openHolds);
  expect(stored.held).toBeGreaterThanOrEqual(0);
  expect(stored.unheld).toBe(stored.budget_limit - stored.held);
  expect(stored.remaining).toBe(stored.budget_limit - stored.spent - stored.held);
}

/** The call with its fault; `hang` faults (store or brain) are abandoned: the handler died. */
async function faultedCall(
  situation: Situation,
  faults: BudgetFault[],
  brainBehaviour: BrainBehaviour = 'answer',
): Promise<{ test: Case; trace: string[]; outcome: Awaited<ReturnType<typeof outcomeOf>> | 'abandoned' }> {
  const test = await prepare(situation);
  const injector = new BudgetFaults();
  injector.arm(...faults);
  const store = faultyBudgetStore(budgetStoreOn(tables), injector);
  let behaviourUsed = false;
  test.brain.script = () => {
    if (behaviourUsed) return 'answer';
    behaviourUsed = true;
    return brainBehaviour;
  };
  const processor = budgetProcessorOn(tables, { store, brain: test.brain, clock: () => test.now });
  const running = outcomeOf(
    processor.api(budgetInput(budgetedCaller(test.item), { idempotencyKey: test.idempotencyKey })),
  );
  const hangs = brainBehaviour === 'hang' || faults.some((fault) => fault.when === 'hang');
  // A dead handler never answers: give it time to reach its hang, then drop it.
  const outcome = hangs
    ? await Promise.race([running, settleTime().then(() => 'abandoned' as const)])
    : await running;
  test.brain.script = () => 'answer';
  return { test, trace: [...injector.calls], outcome };
}

const settleTime = () => new Promise((resolve) => setTimeout(resolve, 300));

/** After the in-doubt window: nothing held, the key repeated and swept, spent = what the brain paid. */
async function expectSettled(test: Case) {
  const afterFault = await storedOf(test.item.budget_id);
  expectConsistent(afterFault);
  const later = test.now + HOLD_LIFETIME_MS + 1;
  expect(budgetStateOf(afterFault, new Date(later)).held).toBe(0);

  const store = budgetStoreOn(tables);
  const repeat = await budgetProcessorOn(tables, { store, brain: test.brain, clock: () => later }).api(
    budgetInput(budgetedCaller(test.item), { idempotencyKey: test.idempotencyKey }),
  );
  expect(repeat.statusCode).toBe(200);
  // A later call's hold gives back whatever expired (fitting or not), and is itself given back.
  const ledger = ledgerOn(store, { clock: () => later });
  const sweeper = await ledger.hold(refOf(test.item), `sweeper-${test.idempotencyKey}`, later + 1_000, {
    keyId: test.item.key_id,
    userId: test.item.user_id,
  });
  if (sweeper.ok) await ledger.release(sweeper.hold);

  const stored = await storedOf(test.item.budget_id);
  expectConsistent(stored);
  expect(stored.holds).toEqual({});
  expect(stored.held).toBe(0);
  expect(stored.spent).toBe(test.brain.totalPaid());
  expect(test.brain.totalPaid()).toBeGreaterThan(0);
  for (const invocation of test.brain.invocations) {
    expect(invocation.request.spend_limit).toEqual({ amount: 0.1, currency: 'USD' });
  }
}

const callsOf = (trace: string[]) =>
  trace.map((label) => {
    const [call, nth] = label.split('#');
    return { call: call as BudgetCall, nth: Number(nth) };
  });

describe('the store calls of an undisturbed run (the fault tables below follow them)', () => {
  it.each(Object.keys(TRACES) as Situation[])('%s', async (situation) => {
    const { test, trace, outcome } = await faultedCall(situation, []);

    expect(trace).toEqual(TRACES[situation]);
    expect(outcome !== 'abandoned' && outcome.ok).toBe(true);
    await expectSettled(test);
  });
});

describe('a store call fails before or after DynamoDB applied it, or never returns', () => {
  const cases = (Object.keys(TRACES) as Situation[]).flatMap((situation) =>
    callsOf(TRACES[situation]).flatMap(({ call, nth }) =>
      (['before', 'after', 'hang'] as BudgetFaultKind[]).map((when) => ({
        label: `${situation}: ${call}#${nth} ${when}`,
        situation,
        fault: { call, nth, when },
      })),
    ),
  );

  it.each(cases)('$label', async ({ situation, fault }) => {
    const { test, outcome } = await faultedCall(situation, [fault]);

    if (fault.when === 'hang') expect(outcome).toBe('abandoned');
    else if (outcome !== 'abandoned' && !outcome.ok) {
      // A failed hold fails closed (500, brain not asked) or refuses; a failed sweep or settlement does not fail the call.
      expect(fault.call).toMatch(/budgets\.(hold|extendHold|releaseExpired)/);
      expect(['internal_error', 'budget_exceeded']).toContain((outcome.error as HttpError).code);
    }
    await expectSettled(test);
  });
});

describe('the brain fails, or the handler dies while the brain works', () => {
  const behaviours: BrainBehaviour[] = ['timeout', 'lost', 'fail', 'throttle', 'malformed', 'hang'];
  const expectedCodes: Partial<Record<BrainBehaviour, string>> = {
    timeout: 'brain_timeout',
    lost: 'brain_timeout',
    fail: 'brain_error',
    throttle: 'brain_unavailable',
    malformed: 'brain_error',
  };
  const cases = (Object.keys(TRACES) as Situation[]).flatMap((situation) =>
    behaviours.map((behaviour) => ({ label: `${situation}: brain ${behaviour}`, situation, behaviour })),
  );

  it.each(cases)('$label', async ({ situation, behaviour }) => {
    const { test, outcome } = await faultedCall(situation, [], behaviour);

    if (behaviour === 'hang') expect(outcome).toBe('abandoned');
    else
      expect(outcome !== 'abandoned' && !outcome.ok && (outcome.error as HttpError).code).toBe(
        expectedCodes[behaviour],
      );
    const stored = await storedOf(test.item.budget_id);
    const own = Object.keys(stored.holds).filter((requestId) => !requestId.startsWith('crashed-'));
    if (behaviour === 'fail' || behaviour === 'throttle') {
      // The brain surely did not act: the hold came back at once.
      expect(own).toEqual([]);
    } else {
      // In doubt (or still running): the hold stands until the brain has surely stopped.
      expect(own).toHaveLength(1);
    }
    await expectSettled(test);
  });
});

describe('double faults on the settlement', () => {
  it.each([
    [
      'applied, answer lost, then the retry throttled',
      [
        { call: 'budgets.settle', nth: 1, when: 'after' },
        { call: 'budgets.settle', nth: 2, when: 'before' },
      ],
    ],
    [
      'throttled twice, then applied with the answer lost',
      [
        { call: 'budgets.settle', nth: 1, when: 'before' },
        { call: 'budgets.settle', nth: 2, when: 'before' },
        { call: 'budgets.settle', nth: 3, when: 'after' },
      ],
    ],
  ] as [string, BudgetFault[]][])('%s: counted once', async (_label, faults) => {
    const { test, outcome, trace } = await faultedCall('plain', faults);

    expect(outcome !== 'abandoned' && outcome.ok).toBe(true);
    expect(trace.filter((label) => label.startsWith('budgets.settle')).length).toBeGreaterThanOrEqual(
      faults.length,
    );
    await expectSettled(test);
  });

  it('a settlement that fails on every attempt is reported, and its hold still comes back', async () => {
    // The one ending where a payment goes uncounted: DynamoDB refuses every attempt. The metric
    // (alarmed in the stack) says so; the hold is not lost, it comes back when its time passes.
    const test = await prepare('plain');
    const injector = new BudgetFaults();
    injector.arm(
      ...[1, 2, 3, 4].map((nth) => ({ call: 'budgets.settle' as const, nth, when: 'before' as const })),
    );
    const { seen, telemetry } = recordingTelemetry();
    const processor = budgetProcessorOn(tables, {
      store: faultyBudgetStore(budgetStoreOn(tables), injector),
      brain: test.brain,
      clock: () => test.now,
      telemetry,
    });

    const answer = await processor.api(
      budgetInput(budgetedCaller(test.item), { idempotencyKey: test.idempotencyKey }),
    );

    expect(answer.statusCode).toBe(200);
    expect(seen.failed).toBe(1);
    const stored = await storedOf(test.item.budget_id);
    expectConsistent(stored);
    expect(stored.spent).toBe(0);
    expect(budgetStateOf(stored, new Date(test.now + HOLD_LIFETIME_MS + 1)).held).toBe(0);
  });
});
