/**
 * Request processing (SPEC §3, §3b): validate the body (the API's own, or OpenAI's
 * chat-completions body), check it against the key's scopes and project binding, transform
 * it, invoke the brain at most once per Idempotency-Key, answer. One pipeline for both routes.
 * Plain values in and out — the edge (functions/requests) turns the Lambda event into a
 * `RequestInput` and the `RequestAnswer` into a proxy answer. Errors are thrown as HttpError.
 */

import { DEFAULT_MESSAGES, type ErrorDetail, HttpError } from '../../errors.js';
import type { ApiSuccess, BrainRequest } from '../brain/contract.js';
import {
  type BrainStreamEvent,
  type DecisionEvent,
  type DeltaEvent,
  type FinalEvent,
  StreamAssembler,
} from '../brain/stream.js';
import type { BudgetLedger, HeldBudget } from '../budgets/ledger.js';
import { formatUsd, toUsd } from '../budgets/money.js';
import type { BudgetStatus } from '../budgets/state.js';
import { AsyncQueue } from '../concurrency.js';
import { type ScopeViolation, scopeViolations } from '../keys/scopes.js';
import type { LogSink } from '../ports.js';
import { issuesToDetails } from '../validation.js';
import { type ChatHeaders, chatCompletionsFormat } from './chat-completions.js';
import {
  type BeginOutcome,
  BrainCallError,
  type IdempotencyClaim,
  type IdempotencyStore,
  type InvokeBrain,
  type InvokeBrainStream,
  type RequestTelemetry,
} from './ports.js';
import { apiRequestSchema, MAX_IDEMPOTENCY_KEY_LENGTH, type RequestFields } from './schema.js';
import { type CallerIdentity, toBrainRequest } from './transform.js';
import type { StreamEncoder, WireFormat, WireHeaders } from './wire-format.js';

/** Deeper than any valid body (metadata allows 4 levels inside it); checked iteratively so hostile nesting cannot exhaust the stack. */
export const MAX_BODY_DEPTH = 12;
const MAX_DETAILS = 100;
/** The OpenAI fields that carry JSON Schemas (tool parameters, response formats) nest deeper. */
const SCHEMA_FIELD_DEPTH = { tools: 40, response_format: 40 } as const;

export interface RequestInput {
  /** From the authorizer only, never from the body. */
  caller: CallerIdentity;
  requestId: string;
  /** The `Idempotency-Key` header, if sent. */
  idempotencyKey: string | undefined;
  /** The parsed JSON body. */
  body: unknown;
  /** When this invocation is cut off (epoch ms): no brain call can start later. */
  deadline?: number;
  /** Told the budget's numbers after each budget write this call makes (the `X-Budget-*` headers). */
  onBudget?: (status: BudgetStatus) => void;
}

export interface RequestAnswer {
  statusCode: number;
  body: unknown;
  /** The request id the answer carries: the original one for a replay or a retried attempt. */
  requestId: string;
  /** A stored answer replayed for a repeated Idempotency-Key. */
  replayed: boolean;
}

/** A streamed answer (SPEC §3b): its server-sent events, and when the call is settled. */
export interface ChatStream {
  /** The events as they come; a failure after the first is an error event, never a throw. */
  stream: AsyncIterable<string>;
  /** The request id the chunks carry (the first attempt's for a retried Idempotency-Key). */
  requestId: string;
  /** Resolves once the payment is counted and the answer stored (or the failure settled); never rejects. */
  settled: Promise<void>;
  /** A stored answer replayed for a repeated Idempotency-Key. */
  replayed?: boolean;
}

/** How long a brain call may last, as the stage configures it. */
export interface BrainTimeLimits {
  /** How long the requests function waits for the brain's answer (BRAIN_TIMEOUT_MS). */
  waitMs: number;
  /** The brain function's own time limit (BRAIN_MAX_DURATION_MS): past it, an invocation has surely ended. */
  maxDurationMs: number;
}

export interface RequestProcessorDeps {
  invokeBrain: InvokeBrain;
  /** The brain with InvokeWithResponseStream, for streamed calls. */
  invokeBrainStream?: InvokeBrainStream;
  idempotency: IdempotencyStore;
  brainLimits: BrainTimeLimits;
  logger: Pick<LogSink, 'info' | 'error'>;
  telemetry: RequestTelemetry;
  /** Spend budgets (SPEC §5b); a budgeted key without it is refused (fail closed). */
  budgets?: BudgetLedger;
  clock?: () => number;
}

/**
 * Added to every "the brain has surely stopped" time: clocks of different containers, and
 * Lambda's own shutdown after a function's timeout.
 */
export const SETTLE_MARGIN_MS = 2_000;

/**
 * The top-level field that nests deeper than `maxDepth` (`''` for the body itself), or undefined.
 * Iterative, so hostile nesting cannot exhaust the stack.
 */
/**
 * What one Idempotency-Key stands for: the validated request, the calling key and the project
 * the call runs in, so another key of the same user (or another default project) never
 * replays this one's decision.
 */
export function idempotencyFingerprint(
  caller: { keyId: string; projectId: string },
  request: RequestFields,
): { key_id: string; project_id: string; request: RequestFields } {
  return { key_id: caller.keyId, project_id: request.project_id ?? caller.projectId, request };
}

export function deepestField(
  value: unknown,
  maxDepth: number,
  deeperFields: Readonly<Record<string, number>> = {},
): string | undefined {
  const stack: Array<{ value: unknown; depth: number; field: string }> = [{ value, depth: 0, field: '' }];
  while (stack.length > 0) {
    const next = stack.pop();
    if (!next || next.value === null || typeof next.value !== 'object') continue;
    if (next.depth >= (deeperFields[next.field] ?? maxDepth)) return next.field;
    for (const [key, child] of Object.entries(next.value)) {
      const field = next.depth === 0 && !Array.isArray(next.value) ? key : next.field;
      stack.push({ value: child, depth: next.depth + 1, field });
    }
  }
  return undefined;
}

function invalid(details: ErrorDetail[], message?: string): HttpError {
  const shown = details.slice(0, MAX_DETAILS);
  if (details.length > MAX_DETAILS) {
    shown.push({ path: '', message: `${details.length - MAX_DETAILS} more problems not listed` });
  }
  return new HttpError('invalid_request', message, shown);
}

/** 403 naming every field outside the key's grant, so the caller sees all it must change. */
function forbidden(violations: readonly ScopeViolation[], pathOf: (path: string) => string): HttpError {
  const details = violations.map(({ path, message }) => ({ path: pathOf(path), message }));
  const fields = [...new Set(details.map((detail) => detail.path))].join(', ');
  return new HttpError(
    'forbidden',
    `This API key does not allow this request (${fields}); see details.`,
    details,
  );
}

const wholeSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
const seconds = (count: number) => `${count} second${count === 1 ? '' : 's'}`;

/** Why a repeat of an Idempotency-Key cannot run now, and when it may (SPEC §3, docs/decisions/0003). */
function idempotencyRefusal(
  outcome: Exclude<BeginOutcome, { kind: 'claimed' | 'replay' }>,
  now: number,
): HttpError {
  if (outcome.kind === 'different_body') return new HttpError('idempotency_conflict');
  if (outcome.kind === 'unreplayable') {
    return new HttpError(
      'idempotency_conflict',
      `The answer to the request with this Idempotency-Key (request_id ${outcome.requestId}) was too large to store, so it cannot be replayed, and the brain is not asked again. Send a new request with a new Idempotency-Key.`,
    );
  }
  const wait = wholeSeconds(outcome.retryAt - now);
  const headers = { 'Retry-After': String(wait) };
  if (outcome.state === 'in_progress') {
    return new HttpError(
      'idempotency_conflict',
      `A request with this Idempotency-Key is still being processed; retry in ${seconds(wait)} (Retry-After).`,
      undefined,
      // A repeat then replays the first answer: safe, and the SDK's own retry gets it.
      { headers, shouldRetry: true },
    );
  }
  return new HttpError(
    'idempotency_conflict',
    `The request with this Idempotency-Key (request_id ${outcome.requestId}) may have reached the brain, which may still be working on it; retry in ${seconds(wait)} (Retry-After), when it has surely finished, and it will be retried as the same request.`,
    undefined,
    { headers },
  );
}

/** The 429 of a key whose budget cannot cover another call (SPEC §5b). */
function budgetRefusal(
  status: BudgetStatus,
  period: string,
  retryAfterSeconds: number | undefined,
): HttpError {
  const limit = `$${formatUsd(status.limit)}`;
  const message =
    retryAfterSeconds === undefined
      ? `This API key has spent its lifetime budget of ${limit}; waiting will not help: ask for a higher budget or use another key.`
      : `This API key has spent its budget of ${limit} for this ${period}; retry in ${seconds(retryAfterSeconds)} (Retry-After), when the next period starts.`;
  return new HttpError('budget_exceeded', message, undefined, {
    headers: retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) },
  });
}

export function createRequestProcessor(deps: RequestProcessorDeps) {
  const { invokeBrain, invokeBrainStream, idempotency, brainLimits, logger, telemetry, budgets } = deps;
  const clock = deps.clock ?? Date.now;

  /** The brain did not act and will not: the Idempotency-Key may be used again at once. */
  async function releaseClaim(claim: IdempotencyClaim | undefined, requestId: string) {
    if (!claim) return;
    try {
      await idempotency.release(claim, clock());
    } catch (storeError) {
      // The claim then settles by itself when its time passes (as after a crash).
      logger.error('idempotency claim not released', {
        request_id: requestId,
        error_name: storeError instanceof Error ? storeError.name : 'unknown',
      });
    }
  }

  /**
   * Take the call's hold before the brain is invoked (SPEC §5b). `until`: when the call has
   * surely ended even if this function dies now, so that anyone may give the hold back then.
   */
  async function holdBudget(
    input: RequestInput,
    brainRequestId: string,
    claim: IdempotencyClaim | undefined,
  ): Promise<HeldBudget | undefined> {
    const { caller, requestId } = input;
    if (!caller.budget) return undefined;
    const now = clock();
    const until = (input.deadline ?? now + brainLimits.waitMs) + brainLimits.maxDurationMs + SETTLE_MARGIN_MS;
    let outcome: Awaited<ReturnType<BudgetLedger['hold']>>;
    try {
      if (!budgets) throw new Error('a budgeted key reached a processor without budgets');
      outcome = await budgets.hold(caller.budget, brainRequestId, until, {
        keyId: caller.keyId,
        userId: caller.userId,
      });
    } catch (error) {
      // Fail closed: no hold, no brain. A hold that was written after all is given back when its time passes.
      logger.error('budget hold failed', {
        request_id: requestId,
        key_id: caller.keyId,
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message.slice(0, 300) : String(error),
      });
      await releaseClaim(claim, requestId);
      throw new HttpError('internal_error', undefined, undefined, { cause: error });
    }
    input.onBudget?.(outcome.status);
    if (!outcome.ok) {
      await releaseClaim(claim, requestId);
      throw budgetRefusal(outcome.status, caller.budget.period, outcome.retryAfterSeconds);
    }
    return outcome.hold;
  }

  /** Report the numbers of a settlement (or release) this call made. */
  function reportBudget(input: RequestInput, status: BudgetStatus | undefined) {
    if (status) input.onBudget?.(status);
  }

  /** After a failed brain call: hold the key in doubt if the brain may have acted, else give it back. */
  async function settleFailure(
    claim: IdempotencyClaim,
    error: unknown,
    invokedAt: number,
    requestId: string,
  ) {
    const mayHaveActed = !(error instanceof BrainCallError) || error.brainMayHaveActed;
    try {
      if (mayHaveActed) {
        // The brain may still be working (or may have paid) until its own time limit has passed.
        await idempotency.markInDoubt(claim, invokedAt + brainLimits.maxDurationMs + SETTLE_MARGIN_MS);
      } else {
        await idempotency.release(claim, clock());
      }
    } catch (storeError) {
      // The caller still gets the brain's own error, not a 500. The claim stays in progress until
      // it settles (past the brain's time limit), so a repeat never overtakes a brain still at work.
      logger.error(
        mayHaveActed ? 'idempotency claim not marked in doubt' : 'idempotency claim not released',
        {
          request_id: requestId,
          error_name: storeError instanceof Error ? storeError.name : 'unknown',
        },
      );
    }
  }

  /** Who asked the brain what: the fields of every brain call's log line (docs/operations.md queries them). */
  function brainCallFields(input: RequestInput, request: RequestFields, brainRequestId: string) {
    return {
      request_id: input.requestId,
      ...(brainRequestId === input.requestId ? {} : { brain_request_id: brainRequestId }),
      key_id: input.caller.keyId,
      user_id: input.caller.userId,
      provider: request.provider,
      model: request.model,
    };
  }

  /** What every route checks before its body: the Idempotency-Key header and hostile nesting. */
  function precheck(input: RequestInput): void {
    const { idempotencyKey, body } = input;
    if (
      idempotencyKey !== undefined &&
      (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    ) {
      throw invalid([
        { path: 'Idempotency-Key', message: `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters` },
      ]);
    }
    const tooDeep = deepestField(body, MAX_BODY_DEPTH, SCHEMA_FIELD_DEPTH);
    if (tooDeep !== undefined) {
      throw invalid([
        { path: tooDeep, message: `nests deeper than any valid request (${MAX_BODY_DEPTH} levels)` },
      ]);
    }
  }

  /**
   * Before the brain, for every route (SPEC §3 order): the key's grant, then the
   * Idempotency-Key — a replay of its stored answer, or the claim this attempt holds.
   */
  async function admit(
    input: RequestInput,
    request: RequestFields,
    pathOf: (path: string) => string,
  ): Promise<{ replay: RequestAnswer } | { claim: IdempotencyClaim | undefined; brainRequestId: string }> {
    const { caller, requestId, idempotencyKey } = input;
    // The key's grant (SPEC §3 order): after the body is valid, before anything is claimed or paid.
    const violations = scopeViolations(caller, request);
    if (violations.length > 0) {
      logger.info('request outside the key scopes', {
        request_id: requestId,
        key_id: caller.keyId,
        user_id: caller.userId,
        reason: 'forbidden',
        fields: violations.map((violation) => violation.path),
      });
      telemetry.scopeRefused();
      throw forbidden(violations, pathOf);
    }
    // Every attempt of one Idempotency-Key sends the brain the first attempt's request id.
    if (idempotencyKey === undefined) return { claim: undefined, brainRequestId: requestId };
    const now = clock();
    // The validated fields, not the raw body: the same request however a route spelled it.
    const outcome = await idempotency.begin(
      caller.userId,
      idempotencyKey,
      idempotencyFingerprint(caller, request),
      requestId,
      {
        now,
        expectedBy: now + brainLimits.waitMs,
        // A holder that dies can have started the brain call at the latest at its own deadline.
        settlesBy:
          (input.deadline ?? now + brainLimits.waitMs) + brainLimits.maxDurationMs + SETTLE_MARGIN_MS,
      },
    );
    if (outcome.kind === 'replay') {
      logger.info('idempotent replay', {
        request_id: requestId,
        original_request_id: outcome.answer.requestId,
        key_id: caller.keyId,
      });
      return {
        replay: {
          statusCode: outcome.answer.statusCode,
          body: JSON.parse(outcome.answer.body),
          requestId: outcome.answer.requestId,
          replayed: true,
        },
      };
    }
    if (outcome.kind !== 'claimed') {
      logger.info('idempotency key refused', {
        request_id: requestId,
        key_id: caller.keyId,
        reason: outcome.kind === 'busy' ? outcome.state : outcome.kind,
      });
      throw idempotencyRefusal(outcome, now);
    }
    const claim = outcome.claim;
    if (claim.attempt > 1) {
      logger.info('idempotency key retried as the same request', {
        request_id: requestId,
        brain_request_id: claim.requestId,
        attempt: claim.attempt,
        key_id: caller.keyId,
      });
    }
    return { claim, brainRequestId: claim.requestId };
  }

  /** One brain call on its way: what its end settles. */
  interface BrainCall {
    input: RequestInput;
    request: RequestFields;
    brainRequestId: string;
    claim: IdempotencyClaim | undefined;
    hold: HeldBudget | undefined;
    started: number;
  }

  /** The claim and the hold taken, the brain request built: everything up to the brain itself. */
  async function prepare(
    input: RequestInput,
    request: RequestFields,
    admitted: { claim: IdempotencyClaim | undefined; brainRequestId: string },
  ): Promise<{ call: Omit<BrainCall, 'started'>; brainRequest: BrainRequest }> {
    const { claim, brainRequestId } = admitted;
    // After idempotency (a replay takes no hold), right before the brain (SPEC §3 order).
    const hold = await holdBudget(input, brainRequestId, claim);
    const brainRequest: BrainRequest = {
      ...toBrainRequest(request, input.caller, brainRequestId),
      ...(hold ? { spend_limit: { amount: toUsd(hold.amount), currency: 'USD' as const } } : {}),
    };
    return { call: { input, request, brainRequestId, claim, hold }, brainRequest };
  }

  /**
   * A brain call failed: the hold kept while the brain may have acted (else given back), the
   * claim in doubt or released; then the failure goes on to the caller.
   */
  async function brainFailed(call: BrainCall, error: unknown): Promise<never> {
    const { input, request, brainRequestId, claim, hold, started } = call;
    const code = error instanceof HttpError ? error.code : 'internal_error';
    const brainMs = clock() - started;
    telemetry.brainOutcome(code, brainMs);
    // The same fields as an answered call, so one query ranks slow calls whatever their end.
    logger.info('brain call failed', {
      ...brainCallFields(input, request, brainRequestId),
      code,
      brain_ms: brainMs,
    });
    if (hold && budgets) {
      const mayHaveActed = !(error instanceof BrainCallError) || error.brainMayHaveActed;
      if (mayHaveActed) {
        // In doubt: the brain may have paid. The hold stands until the brain has surely
        // stopped; a repeat of the Idempotency-Key then settles it, or it is given back.
        logger.info('budget hold kept while the call is in doubt', {
          request_id: input.requestId,
          budget_id: hold.budgetId,
          key_id: input.caller.keyId,
        });
      } else {
        reportBudget(input, await budgets.release(hold));
      }
    }
    if (claim) await settleFailure(claim, error, started, input.requestId);
    throw error;
  }

  /** The brain answered: money first (the payment counted), then the answer stored for repeats. */
  async function brainAnswered(call: BrainCall, answer: ApiSuccess): Promise<void> {
    const { input, request, brainRequestId, claim, hold, started } = call;
    telemetry.brainOutcome(answer.decision.outcome, clock() - started);
    if (hold && budgets) reportBudget(input, await budgets.settle(hold, answer.payment));
    logger.info('request answered', {
      ...brainCallFields(input, request, brainRequestId),
      outcome: answer.decision.outcome,
      brain_ms: clock() - started,
    });
    if (!claim) return;
    try {
      const stored = await idempotency.complete(claim, {
        statusCode: 200,
        body: JSON.stringify(answer),
        requestId: brainRequestId,
      });
      if (stored === 'unreplayable') {
        logger.info('idempotent answer too large to store: repeats get 409', {
          request_id: input.requestId,
          key_id: input.caller.keyId,
        });
      }
    } catch (error) {
      // The caller still gets its answer; a repeat sees 409 until the claim settles, then
      // retries the same request id, which the brain treats as the same request (SPEC §4).
      logger.error('idempotency record not stored', {
        request_id: input.requestId,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
    }
  }

  /** The one pipeline of every route: the key's grant, the Idempotency-Key, the brain. */
  async function run(
    input: RequestInput,
    request: RequestFields,
    pathOf: (path: string) => string,
  ): Promise<RequestAnswer> {
    const admitted = await admit(input, request, pathOf);
    if ('replay' in admitted) return admitted.replay;
    const { call: prepared, brainRequest } = await prepare(input, request, admitted);
    const call: BrainCall = { ...prepared, started: clock() };
    let decision: Awaited<ReturnType<InvokeBrain>>;
    try {
      decision = await invokeBrain(brainRequest);
    } catch (error) {
      return brainFailed(call, error);
    }
    // SPEC §3: `success` is true only when approved, whatever the brain's own flag says.
    const success = decision.success && decision.decision.outcome === 'approved';
    const answer: ApiSuccess = { ...decision, success, request_id: call.brainRequestId };
    await brainAnswered(call, answer);
    return { statusCode: 200, body: answer, requestId: call.brainRequestId, replayed: false };
  }

  /**
   * The same pipeline with the brain streaming (SPEC §3b "Streaming"): refusals and brain
   * failures before the decision throw, as on every route. A decision other than approved is
   * read to its end and answered as the plain call would be. An approved one returns at once
   * with the stream of its chunks; the stream is read from the brain to its end whether or not
   * anyone reads `events` (a client gone mid-stream), and `settled` resolves when the payment
   * is counted and the answer stored — or the failure settled, shown as an error event.
   */
  async function runStream(
    input: RequestInput,
    request: RequestFields,
    pathOf: (path: string) => string,
    encoderOf: (requestId: string) => StreamEncoder,
  ): Promise<{ answer: RequestAnswer } | ChatStream> {
    if (!invokeBrainStream) throw new Error('a streamed call reached a processor without a streaming brain');
    const admitted = await admit(input, request, pathOf);
    if ('replay' in admitted) return { answer: admitted.replay };
    const { call: prepared, brainRequest } = await prepare(input, request, admitted);
    const call: BrainCall = { ...prepared, started: clock() };
    const events = invokeBrainStream(brainRequest)[Symbol.asyncIterator]();
    const next = async (): Promise<BrainStreamEvent> => {
      const result = await events.next();
      if (result.done)
        throw new BrainCallError(
          'brain_error',
          true,
          new Error('the brain stream ended before its final event'),
        );
      return result.value;
    };
    let decision: DecisionEvent['decision'];
    try {
      const first = await next();
      if (first.type !== 'decision')
        throw new BrainCallError('brain_error', true, new Error(`the brain stream began with ${first.type}`));
      decision = first.decision;
    } catch (error) {
      return brainFailed(call, error);
    }
    const assembler = new StreamAssembler();
    const answerOf = (final: FinalEvent): ApiSuccess => ({
      success: final.success && decision.outcome === 'approved',
      decision,
      response: assembler.response(final),
      payment: final.payment,
      message: final.message,
      request_id: call.brainRequestId,
    });
    /** Reads the brain to its final event; every delta to `onDelta`. */
    const readToFinal = async (onDelta: (delta: DeltaEvent) => void): Promise<ApiSuccess> => {
      for (;;) {
        const event = await next();
        if (event.type === 'final') return answerOf(event);
        if (event.type !== 'delta')
          throw new BrainCallError('brain_error', true, new Error('a second decision in the brain stream'));
        assembler.add(event);
        onDelta(event);
      }
    };
    if (decision.outcome !== 'approved') {
      let answer: ApiSuccess;
      try {
        answer = await readToFinal(() => {});
      } catch (error) {
        return brainFailed(call, error);
      }
      await brainAnswered(call, answer);
      return { answer: { statusCode: 200, body: answer, requestId: call.brainRequestId, replayed: false } };
    }

    const encoder = encoderOf(call.brainRequestId);
    const queue = new AsyncQueue<string>();
    queue.push(encoder.opening());
    const settled = (async () => {
      try {
        const answer = await readToFinal((delta) => {
          const event = encoder.delta(delta);
          if (event) queue.push(event);
        });
        await brainAnswered(call, answer);
        queue.push(encoder.closing(answer));
      } catch (error) {
        await events.return?.().catch(() => undefined);
        const failure = await brainFailed(call, error).catch((settledError: unknown) => settledError);
        const code = failure instanceof HttpError ? failure.code : 'internal_error';
        queue.push(
          encoder.error(
            code,
            failure instanceof HttpError ? failure.publicMessage() : DEFAULT_MESSAGES[code],
          ),
        );
      } finally {
        queue.end();
      }
    })();
    return { stream: queue, requestId: call.brainRequestId, settled };
  }

  /**
   * Every route of the requests function (SPEC §3, §3b, §3d, §3e): the format validates and
   * translates its body, the one pipeline runs it, the format writes the answer — plain, or
   * with `stream: true` and a format that streams, its server-sent events.
   */
  async function handle(
    format: WireFormat,
    input: RequestInput,
    headers: WireHeaders,
  ): Promise<RequestAnswer | ChatStream> {
    precheck(input);
    const parsed = format.parse(input.body, headers);
    if (!parsed.ok) throw invalid(parsed.details, parsed.message);
    const { call } = parsed;
    const created = Math.floor(clock() / 1000);
    const present = (answer: RequestAnswer): RequestAnswer => ({
      ...answer,
      body: format.present(answer.body as ApiSuccess, call, created),
    });
    if (!call.stream || !format.encoder) return present(await run(input, call.request, format.pathOf));
    const encoderOf = (requestId: string) =>
      (format.encoder as NonNullable<WireFormat['encoder']>)(call, requestId, created);
    const outcome = await runStream(input, call.request, format.pathOf, encoderOf);
    if ('stream' in outcome) return outcome;
    // A decision other than approved (the format's refusal), or a replay: a finished call's answer, as a stream.
    const { answer } = outcome;
    present(answer);
    const stream = new AsyncQueue<string>();
    stream.push(encoderOf(answer.requestId).replay(answer.body as ApiSuccess));
    stream.end();
    return { stream, requestId: answer.requestId, settled: Promise.resolve(), replayed: answer.replayed };
  }

  /**
   * A route that asks nothing of the brain (POST /v1/messages/count_tokens, SPEC §3d): the body
   * checked as every body is, then answered from `count` alone — no claim, no hold, no brain.
   */
  function countTokens(
    input: RequestInput,
    headers: WireHeaders,
    count: (body: unknown, headers: WireHeaders) => TokenCount,
  ): RequestAnswer {
    precheck(input);
    const counted = count(input.body, headers);
    if (!counted.ok) throw invalid(counted.details, counted.message);
    return {
      statusCode: 200,
      body: { input_tokens: counted.input_tokens },
      requestId: input.requestId,
      replayed: false,
    };
  }

  return {
    handle,
    countTokens,

    /** POST /api/v1/requests: the body is the API's own (SPEC §3), the answer the brain's decision. */
    async api(input: RequestInput): Promise<RequestAnswer> {
      return (await handle(apiRequestsFormat, input, {})) as RequestAnswer;
    },

    /**
     * POST /v1/chat/completions: an OpenAI body in, a `chat.completion` out — or, with
     * `stream: true`, its chunks as server-sent events (SPEC §3b).
     */
    chat(input: RequestInput, headers: ChatHeaders): Promise<RequestAnswer | ChatStream> {
      return handle(chatCompletionsFormat, input, {
        'keygate-project-id': headers.projectId,
        'keygate-agent-id': headers.agentId,
      });
    },
  };
}

/** A request's estimated input tokens, or why its body is not one. */
export type TokenCount =
  | { ok: true; input_tokens: number }
  | { ok: false; details: ErrorDetail[]; message?: string };

/** keygate's own body (SPEC §3), strict; the answer is the brain's decision as it is, whatever it decided. */
export const apiRequestsFormat: WireFormat = {
  parse(body) {
    const parsed = apiRequestSchema.safeParse(body, { reportInput: true });
    if (!parsed.success) return { ok: false, details: issuesToDetails(parsed.error.issues) };
    return { ok: true, call: { request: parsed.data, model: parsed.data.model, stream: false } };
  },
  pathOf: (path) => path,
  present: (answer) => answer,
};

export type RequestProcessor = ReturnType<typeof createRequestProcessor>;
