/**
 * The request processor with a budgeted caller on DynamoDB Local, for the budget tests: the
 * real DynamoIdempotencyStore and a BudgetStore (the real one, or one wrapped with faults),
 * and a fake brain that answers as the reference brain does and keeps the books of what it
 * paid. Like a real brain it decides and pays once per request_id (SPEC §4): a repeat of a
 * request_id answers the same payment and pays nothing more. Each invocation can be scripted
 * to misbehave: time out before acting, act and then lose its answer, fail, throttle, answer
 * outside the contract, or never answer (a handler that dies while the brain works).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import { DynamoIdempotencyStore } from '../../shared/adapters/dynamodb/idempotency-store.js';
import {
  type BrainDecisionAnswer,
  type BrainRequest,
  brainDecisionAnswerSchema,
} from '../../shared/domain/brain/contract.js';
import { answerAsEvents, type BrainStreamEvent } from '../../shared/domain/brain/stream.js';
import { type BudgetTelemetry, createBudgetLedger } from '../../shared/domain/budgets/ledger.js';
import type { BudgetItem } from '../../shared/domain/budgets/model.js';
import { type Micros, micros, paymentMicros } from '../../shared/domain/budgets/money.js';
import type { BudgetStore } from '../../shared/domain/budgets/ports.js';
import { BrainCallError } from '../../shared/domain/requests/ports.js';
import {
  createRequestProcessor,
  type RequestInput,
  SETTLE_MARGIN_MS,
} from '../../shared/domain/requests/process.js';
import type { CallerIdentity } from '../../shared/domain/requests/transform.js';
import { recordingTelemetry, refOf, silentLogger } from './budgets.js';
import type { TestTables } from './dynamo.js';

/**
 * How one brain invocation goes:
 * - `answer`: the reference brain's answer (paid when approved);
 * - `timeout`: no answer in time, the brain never acted (nothing paid);
 * - `lost`: the brain acted and paid, its answer was lost (a 504 to the caller);
 * - `fail`: the brain answered that it failed (did not act: 502, hold released);
 * - `throttle`: Lambda throttled the invoke (never ran: 503, hold released);
 * - `malformed`: an answer outside the contract after acting (502, in doubt);
 * - `hang`: never answers (the handler is abandoned while the brain works);
 * - `cut` (streamed calls): the decision and a first delta, then the stream breaks off after paying.
 */
export type BrainBehaviour =
  | 'answer'
  | 'timeout'
  | 'lost'
  | 'fail'
  | 'throttle'
  | 'malformed'
  | 'hang'
  | 'cut';

export interface BrainInvocation {
  request: BrainRequest;
  behaviour: BrainBehaviour;
  answer?: BrainDecisionAnswer;
}

export interface PayingBrain {
  invoke(request: BrainRequest): Promise<BrainDecisionAnswer>;
  /**
   * The same brain invoked with InvokeWithResponseStream: its decision, the content in a few
   * deltas, its final event with the payment (decided and paid once per request_id, as
   * `invoke`). `cut` behaves as `answer` up to the first delta, then the stream breaks off
   * (the brain has paid: in doubt); every other behaviour fails before the decision.
   */
  stream(request: BrainRequest): AsyncIterable<BrainStreamEvent>;
  readonly invocations: BrainInvocation[];
  /** What the brain paid, once per request_id (USD, micro-dollars). */
  readonly paid: Map<string, Micros>;
  /** The sum of `paid`. */
  totalPaid(): Micros;
  /** How the next invocations go (then `answer`); a function decides per invocation. */
  script: (request: BrainRequest, nth: number) => BrainBehaviour;
  /** Every invocation waits for this first (to run calls concurrently for real). */
  gate?: Promise<unknown>;
}

export function payingBrain(): PayingBrain {
  const invocations: BrainInvocation[] = [];
  const paid = new Map<string, Micros>();
  const answers = new Map<string, BrainDecisionAnswer>();

  /** The brain decides (and pays) once per request_id; a repeat gets the same answer. */
  async function decide(request: BrainRequest): Promise<BrainDecisionAnswer> {
    const known = answers.get(request.request_id);
    if (known) return known;
    const answer = brainDecisionAnswerSchema.parse(await referenceBrain(request));
    answers.set(request.request_id, answer);
    if (answer.payment && answer.payment.currency === 'USD') {
      paid.set(request.request_id, paymentMicros(answer.payment.actual_amount));
    }
    return answer;
  }

  const brain: PayingBrain = {
    invocations,
    paid,
    totalPaid: () => micros([...paid.values()].reduce((sum, amount) => sum + amount, 0)),
    script: () => 'answer',
    async invoke(request) {
      const nth = invocations.length + 1;
      const behaviour = brain.script(request, nth);
      const invocation: BrainInvocation = { request, behaviour };
      invocations.push(invocation);
      if (brain.gate) await brain.gate;
      switch (behaviour) {
        case 'answer':
          invocation.answer = await decide(request);
          return invocation.answer;
        case 'timeout':
          throw new BrainCallError(
            'brain_timeout',
            true,
            new Error('injected: the brain did not answer in time'),
          );
        case 'lost':
          invocation.answer = await decide(request);
          throw new BrainCallError('brain_timeout', true, new Error('injected: the answer was lost'));
        case 'fail':
          throw new BrainCallError('brain_error', false, new Error('injected: the brain reported a failure'));
        case 'throttle':
          throw new BrainCallError('brain_unavailable', false, new Error('injected: throttled'));
        case 'malformed':
          await decide(request);
          throw new BrainCallError(
            'brain_error',
            true,
            new Error('injected: an answer outside the contract'),
          );
        case 'hang':
          return new Promise<BrainDecisionAnswer>(() => {});
        case 'cut':
          throw new Error('cut is a behaviour of streamed calls');
      }
    },
    async *stream(request) {
      const behaviour = brain.script(request, invocations.length + 1);
      if (behaviour !== 'answer' && behaviour !== 'cut') {
        // Fails as the plain invocation fails, before any event.
        await brain.invoke(request);
        return;
      }
      const invocation: BrainInvocation = { request, behaviour };
      invocations.push(invocation);
      if (brain.gate) await brain.gate;
      invocation.answer = await decide(request);
      const [decision, delta, final] = answerAsEvents(invocation.answer);
      yield decision;
      const content = delta.content ?? '';
      const third = Math.ceil(content.length / 3);
      for (let start = 0; start < content.length; start += third) {
        yield { type: 'delta', content: content.slice(start, start + third) };
        if (behaviour === 'cut') {
          throw new BrainCallError('brain_error', true, new Error('injected: the stream broke off'));
        }
        await sleep(1);
      }
      yield final;
    },
  };
  return brain;
}

/** The brain's time limits the processors of these tests run with. */
export const BRAIN_LIMITS = { waitMs: 1_000, maxDurationMs: 2_000 } as const;

/** How long after a call starts every hold of it may be given back (no deadline given: the wait stands in). */
export const HOLD_LIFETIME_MS = BRAIN_LIMITS.waitMs + BRAIN_LIMITS.maxDurationMs + SETTLE_MARGIN_MS;

/** How long after a brain call starts a repeat of its Idempotency-Key in doubt may run. */
export const IN_DOUBT_MS = BRAIN_LIMITS.maxDurationMs + SETTLE_MARGIN_MS;

export const BUDGET_BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 64,
} as const;

export function budgetedCaller(item: BudgetItem, userId = item.user_id): CallerIdentity {
  return {
    userId,
    keyId: item.key_id,
    projectId: 'proj-budget',
    projectBound: false,
    budget: refOf(item),
  };
}

export interface BudgetProcessorOptions {
  store: BudgetStore;
  brain: PayingBrain;
  clock?: () => number;
  telemetry?: BudgetTelemetry;
}

export function budgetProcessorOn(tables: TestTables, options: BudgetProcessorOptions) {
  const clock = options.clock ?? Date.now;
  return createRequestProcessor({
    invokeBrain: (request) => options.brain.invoke(request),
    invokeBrainStream: (request) => options.brain.stream(request),
    idempotency: new DynamoIdempotencyStore({ client: tables.doc, tableName: tables.names.idempotency }),
    budgets: createBudgetLedger({
      store: options.store,
      logger: silentLogger,
      telemetry: options.telemetry ?? recordingTelemetry().telemetry,
      settleRetryDelaysMs: [1, 1, 1],
      clock,
    }),
    brainLimits: BRAIN_LIMITS,
    logger: silentLogger,
    telemetry: { brainOutcome: () => {}, scopeRefused: () => {} },
    clock,
  });
}

let sequence = 0;
export function budgetInput(caller: CallerIdentity, overrides: Partial<RequestInput> = {}): RequestInput {
  sequence += 1;
  return {
    caller,
    requestId: `req-budget-${sequence}`,
    idempotencyKey: undefined,
    body: BUDGET_BODY,
    ...overrides,
  };
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export const outcomeOf = (promise: Promise<unknown>): Promise<CallOutcome> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/** Resolves once `count()` reaches `target`, or after `maxMs` (so a wrong count fails an assertion, not a timeout). */
export async function until(count: () => number, target: number, maxMs = 5_000): Promise<void> {
  const started = Date.now();
  while (count() < target && Date.now() - started < maxMs) await sleep(5);
}
