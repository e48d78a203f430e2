/**
 * Spend budgets on the request path (SPEC §9 v3, issue 22), side by side in one run on
 * DynamoDB Local: the same request through the request processor (shared/domain/requests/
 * process.ts) with the requests function's own stores (DynamoIdempotencyStore,
 * DynamoBudgetStore on one document client), logger and metrics, and the reference brain in
 * process, for one caller without a budget and the same caller with one. Interleaved rounds
 * (the arms' order rotates) so machine noise falls on both alike. DynamoDB calls are counted
 * per table by a middleware on the document client, after its retry step (so every attempt
 * counts), and cross-checked against the process's outgoing HTTP requests.
 *
 * Also: a spent budget (the refused call's writes, the brain never asked), and the first call
 * of a new period, for a container that wrote the budget in the old period and for a fresh one.
 */
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { referenceBrain } from '../functions/reference-brain/brain.js';
import { budgetMetrics, requestMetrics } from '../functions/requests/edge.js';
import { createTables, localDynamoClient, startDynamoDbLocal } from '../local/dynamodb.js';
import { createDocumentClient } from '../shared/adapters/aws-clients.js';
import { DynamoBudgetStore } from '../shared/adapters/dynamodb/budget-store.js';
import { DynamoIdempotencyStore } from '../shared/adapters/dynamodb/idempotency-store.js';
import { type TableNames, tableNamesFor } from '../shared/adapters/dynamodb/tables.js';
import { createLogger } from '../shared/adapters/observability/logger.js';
import { createMetrics } from '../shared/adapters/observability/metrics.js';
import {
  type ApiSuccess,
  type BrainDecisionAnswer,
  type BrainRequest,
  brainAnswerSchema,
} from '../shared/domain/brain/contract.js';
import { type BudgetConfig, freshBudgetItem, newBudgetId } from '../shared/domain/budgets/admin.js';
import { createBudgetLedger } from '../shared/domain/budgets/ledger.js';
import type { BudgetItem, KeyBudgetRef } from '../shared/domain/budgets/model.js';
import { MAX_BUDGET_MICROS, micros, paymentMicros, toUsd } from '../shared/domain/budgets/money.js';
import { budgetHeadersOf } from '../shared/domain/budgets/state.js';
import { periodStartOf } from '../shared/domain/keys/limits.js';
import { createRequestProcessor, type RequestProcessor } from '../shared/domain/requests/process.js';
import type { CallerIdentity } from '../shared/domain/requests/transform.js';
import { HttpError } from '../shared/errors.js';
import { round, type Summary, summarize } from './lib/stats.js';

/** A threshold of issue 22 / SPEC §9 and whether this run met it. */
export interface BudgetCheck {
  name: string;
  target: string;
  value: number;
  ok: boolean;
}

/** DynamoDB calls one processor call made, by table (the fewest and the most over the arm's calls). */
export interface CallsPerCall {
  calls: number;
  total: { min: number; max: number };
  budgets: { min: number; max: number };
  idempotency: { min: number; max: number };
}

export interface BudgetsBenchResult {
  rounds: number;
  per_call_hold_usd: number;
  /** (a) DynamoDB calls per call: the plain caller, the same caller with a budget, and the difference per round. */
  calls: {
    plain: CallsPerCall;
    budgeted: CallsPerCall;
    /** Budgeted call's calls − the plain call's of the same round. */
    extra_per_budgeted_call: { min: number; max: number };
    /** Counted by the middleware vs outgoing HTTP requests over the whole run (equal: nothing uncounted). */
    counted: number;
    http_requests: number;
  };
  /** (b) Time per call through the processor, and hold + settle sent alone through DynamoBudgetStore. */
  latency: {
    plain: Summary;
    budgeted: Summary;
    budget_writes_alone: Summary;
    added_median_ms: number;
    added_p90_ms: number;
    /** The budgeted − plain difference of each round, summarised (a cross-check of the two above). */
    paired_difference: Summary;
  };
  /** (c) A budget that cannot cover another hold. */
  spent: {
    calls: number;
    refused: number;
    brain_calls: number;
    budget_writes_per_call: { min: number; max: number };
  };
  /** (d) The first call of a new period (budgets of one call's hold, spent in the old period). */
  rollover: {
    /** A container that wrote the budget in the old period (it knows the period it counted). */
    warm: { admitted: boolean; budget_writes: number };
    /** A fresh container (knows only the key's copy of the budget). */
    cold: { admitted: boolean; budget_writes: number };
  };
  /** The budgeted arm's budget after its calls (warm-up included): held back to 0, spent = what the brain paid. */
  books: { held_micros: number; spent_micros: number; paid_micros: number };
  checks: BudgetCheck[];
}

const BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Benchmark: say hello in one word.' }],
  max_tokens: 16,
} as const;

/** The requests function's defaults (shared/adapters/config.ts). */
const BRAIN_LIMITS = { waitMs: 25_000, maxDurationMs: 900_000 } as const;
const HOLD = micros(10_000); // $0.01 per call: far above what BODY costs
const USER_ID = 'bench-budget-user';
const KEY_ID = 'key_benchbudget';
const DAY_MS = 86_400_000;

/** Every order of the three arms, cycled, so each arm runs first, second and third equally often. */
const ORDERS = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
] as const;

let httpRequests = 0;
subscribe('http.client.request.start', () => {
  httpRequests += 1;
});

interface Counts {
  total: number;
  budgets: number;
  idempotency: number;
}

/** Counts each attempt the client sends (after the retry step), by table. */
function countCalls(doc: DynamoDBDocumentClient, names: TableNames): Counts {
  const counts: Counts = { total: 0, budgets: 0, idempotency: 0 };
  doc.middlewareStack.add(
    (next) => async (args) => {
      const table = (args.input as { TableName?: unknown }).TableName;
      counts.total += 1;
      if (table === names.budgets) counts.budgets += 1;
      if (table === names.idempotency) counts.idempotency += 1;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'benchCountDynamoCalls' },
  );
  return counts;
}

const minMax = (values: readonly number[]) => ({
  min: values.length === 0 ? Number.NaN : Math.min(...values),
  max: values.length === 0 ? Number.NaN : Math.max(...values),
});

function callsPerCall(samples: readonly Counts[]): CallsPerCall {
  return {
    calls: samples.length,
    total: minMax(samples.map((sample) => sample.total)),
    budgets: minMax(samples.map((sample) => sample.budgets)),
    idempotency: minMax(samples.map((sample) => sample.idempotency)),
  };
}

const refOf = (item: BudgetItem): KeyBudgetRef => ({
  budgetId: item.budget_id,
  limit: item.budget_limit,
  period: item.budget_period,
  hold: item.per_call_hold,
});

const callerWith = (budget?: KeyBudgetRef): CallerIdentity => ({
  userId: USER_ID,
  keyId: KEY_ID,
  projectId: 'proj-bench',
  projectBound: false,
  ...(budget ? { budget } : {}),
});

export async function runBudgetsBench(rounds = 1000, refusedCalls = 50): Promise<BudgetsBenchResult> {
  const dynamo = await startDynamoDbLocal();
  try {
    const names = tableNamesFor('bench');
    const raw = localDynamoClient(dynamo.endpoint);
    await createTables(raw, names);
    raw.destroy();
    // One client for both stores, configured as the requests function configures its own.
    const doc = createDocumentClient({ endpoint: dynamo.endpoint });
    const counts = countCalls(doc, names);
    // From here on the counted client is this process's only DynamoDB caller (setup polled and created tables before).
    const httpBefore = httpRequests;
    const store = new DynamoBudgetStore(doc, names.budgets);
    const idempotency = new DynamoIdempotencyStore({ client: doc, tableName: names.idempotency });
    const logger = createLogger('requests');
    const metrics = createMetrics('requests');

    let brainCalls = 0;
    // The brain client's own check of an answer (shared/adapters/brain-client.ts), without the Lambda hop.
    const invokeBrain = async (request: BrainRequest): Promise<BrainDecisionAnswer> => {
      brainCalls += 1;
      const answer = brainAnswerSchema.parse(await referenceBrain(request));
      if (!('decision' in answer)) throw new Error(`the reference brain failed: ${answer.message}`);
      return answer;
    };

    // `offset` moves one processor's clock (the period rollover); the main one keeps the real time.
    const clockAt = (state: { offset: number }) => () => Date.now() + state.offset;
    const processorWith = (clock: () => number): RequestProcessor =>
      createRequestProcessor({
        invokeBrain,
        idempotency,
        budgets: createBudgetLedger({ store, logger, telemetry: budgetMetrics(metrics), clock }),
        brainLimits: BRAIN_LIMITS,
        logger,
        telemetry: requestMetrics(metrics),
        clock,
      });
    const processor = processorWith(Date.now);

    const createBudget = async (config: BudgetConfig, now: Date): Promise<BudgetItem> => {
      const item = freshBudgetItem({ budgetId: newBudgetId(), userId: USER_ID, keyId: KEY_ID, config, now });
      await store.create(item);
      return item;
    };

    let sequence = 0;
    /** One call as the requests function makes it: a fresh Idempotency-Key, the budget headers computed. */
    const call = (through: RequestProcessor, caller: CallerIdentity) => {
      sequence += 1;
      return through.api({
        caller,
        requestId: `bench-req-${sequence}`,
        idempotencyKey: `bench-idem-${sequence}`,
        body: BODY,
        onBudget: (status) => {
          budgetHeadersOf(status);
        },
      });
    };
    /** An approved call; what the brain paid for it (micro-dollars). */
    const approved = async (through: RequestProcessor, caller: CallerIdentity): Promise<number> => {
      const answer = await call(through, caller);
      const body = answer.body as ApiSuccess;
      if (answer.statusCode !== 200 || body.decision.outcome !== 'approved' || !body.payment) {
        throw new Error(`bench call not approved: ${JSON.stringify(answer.body).slice(0, 300)}`);
      }
      return paymentMicros(body.payment.actual_amount);
    };
    /** Calls (and their table split) one run made. */
    const counted = async (run: () => Promise<unknown>): Promise<Counts> => {
      const before = { ...counts };
      await run();
      return {
        total: counts.total - before.total,
        budgets: counts.budgets - before.budgets,
        idempotency: counts.idempotency - before.idempotency,
      };
    };

    // (a) and (b): plain, budgeted, and the two budget writes alone (the floor of what a budget adds).
    const now = new Date();
    const latencyConfig: BudgetConfig = { limit: MAX_BUDGET_MICROS, period: 'month', hold: HOLD };
    const budgeted = callerWith(refOf(await createBudget(latencyConfig, now)));
    const plain = callerWith();
    const floorItem = await createBudget(latencyConfig, now);
    let floorSequence = 0;
    const budgetWritesAlone = async () => {
      floorSequence += 1;
      const requestId = `bench-floor-${floorSequence}`;
      const at = new Date();
      const held = await store.hold({
        budgetId: floorItem.budget_id,
        requestId,
        amount: HOLD,
        period: 'month',
        periodStart: periodStartOf(at, 'month'),
        fresh: false,
        until: at.getTime() + BRAIN_LIMITS.waitMs + BRAIN_LIMITS.maxDurationMs,
      });
      if (!held.ok) throw new Error('the floor hold was refused');
      const settled = await store.settle({
        budgetId: floorItem.budget_id,
        requestId,
        held: HOLD,
        paid: micros(6),
        block: false,
      });
      if (!settled.ok) throw new Error('the floor settlement was refused');
    };

    let budgetedPaid = 0;
    const arms = [
      () => approved(processor, plain),
      async () => {
        budgetedPaid += await approved(processor, budgeted);
      },
      budgetWritesAlone,
    ];
    for (let i = 0; i < Math.max(100, Math.floor(rounds / 10)); i += 1) {
      for (const arm of arms) await arm();
    }
    const samples: number[][] = [[], [], []];
    const plainCounts: Counts[] = [];
    const budgetedCounts: Counts[] = [];
    const extra: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      const order = ORDERS[i % ORDERS.length] ?? ORDERS[0];
      const roundCounts: Counts[] = [];
      for (const index of order) {
        const arm = arms[index];
        if (!arm) continue;
        const started = performance.now();
        const made = await counted(arm);
        samples[index]?.push(performance.now() - started);
        roundCounts[index] = made;
      }
      const [plainMade, budgetedMade] = roundCounts;
      if (plainMade && budgetedMade) {
        plainCounts.push(plainMade);
        budgetedCounts.push(budgetedMade);
        extra.push(budgetedMade.total - plainMade.total);
      }
    }
    const [plainSamples = [], budgetedSamples = [], floorSamples = []] = samples;
    const books = await store.find(budgeted.budget?.budgetId ?? '');
    if (!books) throw new Error('the latency budget disappeared');

    // (c) A budget of exactly one hold: one call spends some of it, every later call is refused.
    const spentItem = await createBudget({ limit: HOLD, period: 'month', hold: HOLD }, new Date());
    const spentCaller = callerWith(refOf(spentItem));
    await approved(processor, spentCaller);
    const brainBefore = brainCalls;
    const refusedCounts: Counts[] = [];
    let refused = 0;
    for (let i = 0; i < refusedCalls; i += 1) {
      refusedCounts.push(
        await counted(async () => {
          try {
            await call(processor, spentCaller);
          } catch (error) {
            if (error instanceof HttpError && error.code === 'budget_exceeded' && error.status === 429) {
              refused += 1;
              return;
            }
            throw error;
          }
        }),
      );
    }
    const spentBrainCalls = brainCalls - brainBefore;

    // (d) Two day budgets of one hold each, spent 5 s before a UTC midnight by one container;
    // 1 s after it, that container calls on one and a fresh container on the other.
    const midnight = Math.ceil(Date.now() / DAY_MS) * DAY_MS;
    const clock = { offset: midnight - 5_000 - Date.now() };
    const oldContainer = processorWith(clockAt(clock));
    const dayConfig: BudgetConfig = { limit: HOLD, period: 'day', hold: HOLD };
    const warmItem = await createBudget(dayConfig, new Date(Date.now() + clock.offset));
    const coldItem = await createBudget(dayConfig, new Date(Date.now() + clock.offset));
    await approved(oldContainer, callerWith(refOf(warmItem)));
    await approved(oldContainer, callerWith(refOf(coldItem)));
    clock.offset = midnight + 1_000 - Date.now();
    const freshContainer = processorWith(clockAt(clock));
    const firstOfPeriod = async (through: RequestProcessor, item: BudgetItem) => {
      const before = brainCalls;
      const made = await counted(() => approved(through, callerWith(refOf(item))));
      return { admitted: brainCalls === before + 1, budget_writes: made.budgets };
    };
    const warm = await firstOfPeriod(oldContainer, warmItem);
    const cold = await firstOfPeriod(freshContainer, coldItem);

    doc.destroy();

    const plainCalls = callsPerCall(plainCounts);
    const budgetedCalls = callsPerCall(budgetedCounts);
    const extraCalls = minMax(extra);
    const refusedWrites = minMax(refusedCounts.map((made) => made.budgets));
    const plainSummary = summarize(plainSamples);
    const budgetedSummary = summarize(budgetedSamples);
    const paired = plainSamples.map((ms, i) => (budgetedSamples[i] ?? ms) - ms);
    const checks: BudgetCheck[] = [
      {
        name: 'extra DynamoDB calls per budgeted call (hold + settle)',
        target: '≤ 2',
        value: extraCalls.max,
        ok: extraCalls.max <= 2,
      },
      {
        name: 'Budgets-table calls of the plain caller',
        target: '0',
        value: plainCalls.budgets.max,
        ok: plainCalls.budgets.max === 0,
      },
      {
        name: 'budget writes per refused call (spent budget)',
        target: '1',
        value: refusedWrites.max,
        ok: refusedWrites.min === 1 && refusedWrites.max === 1 && refused === refusedCalls,
      },
      {
        name: 'brain calls for a spent budget',
        target: '0',
        value: spentBrainCalls,
        ok: spentBrainCalls === 0,
      },
      {
        name: 'budget writes of the first call of a new period (worst of warm and fresh container)',
        target: '≤ 3',
        value: Math.max(warm.budget_writes, cold.budget_writes),
        ok: warm.admitted && cold.admitted && Math.max(warm.budget_writes, cold.budget_writes) <= 3,
      },
      {
        name: "the budgeted arm's budget after the rounds: held (µ$), spent = what the brain paid",
        target: '0',
        value: books.held,
        ok: books.held === 0 && books.spent === budgetedPaid,
      },
      {
        name: 'DynamoDB calls not counted (HTTP requests − counted)',
        target: '0',
        value: httpRequests - httpBefore - counts.total,
        ok: httpRequests - httpBefore === counts.total,
      },
    ];
    return {
      rounds,
      per_call_hold_usd: toUsd(HOLD),
      calls: {
        plain: plainCalls,
        budgeted: budgetedCalls,
        extra_per_budgeted_call: extraCalls,
        counted: counts.total,
        http_requests: httpRequests - httpBefore,
      },
      latency: {
        plain: plainSummary,
        budgeted: budgetedSummary,
        budget_writes_alone: summarize(floorSamples),
        added_median_ms: round(budgetedSummary.median_ms - plainSummary.median_ms),
        added_p90_ms: round(budgetedSummary.p90_ms - plainSummary.p90_ms),
        paired_difference: summarize(paired),
      },
      spent: {
        calls: refusedCalls,
        refused,
        brain_calls: spentBrainCalls,
        budget_writes_per_call: refusedWrites,
      },
      rollover: { warm, cold },
      books: { held_micros: books.held, spent_micros: books.spent, paid_micros: budgetedPaid },
      checks,
    };
  } finally {
    await dynamo.stop();
  }
}
