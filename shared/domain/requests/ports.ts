/**
 * What request processing needs from outside: the brain, an idempotency record store and
 * somewhere to report brain outcomes. Adapters implement them (shared/adapters); tests
 * pass fakes. The claim's states and who moves them: docs/decisions/0003-idempotency.md.
 */
import { type ErrorCode, HttpError } from '../../errors.js';
import type { BrainCatalogue, BrainDecisionAnswer, BrainRequest } from '../brain/contract.js';
import type { BrainStreamEvent } from '../brain/stream.js';

/** Invokes the brain once; throws a BrainCallError for every way it can fail. */
export type InvokeBrain = (request: BrainRequest) => Promise<BrainDecisionAnswer>;

/**
 * Invokes the brain once with InvokeWithResponseStream: its events in order — one decision,
 * deltas, one final — as they arrive; every way it can fail (before or during the stream) is
 * thrown as a BrainCallError. Leaving the iteration early releases the stream.
 */
export type InvokeBrainStream = (request: BrainRequest) => AsyncIterable<BrainStreamEvent>;

/**
 * A failed brain call, and whether the brain may have acted on it (decided, paid): `false`
 * only when the call surely never ran (throttled, refused by Lambda, never sent) or the brain
 * itself answered that it failed. Whether a retry may follow at once depends on it.
 */
export class BrainCallError extends HttpError {
  constructor(
    code: Extract<ErrorCode, 'brain_error' | 'brain_unavailable' | 'brain_timeout'>,
    readonly brainMayHaveActed: boolean,
    cause: unknown,
  ) {
    super(code, undefined, undefined, { cause });
    this.name = 'BrainCallError';
  }
}

/** The brain's model catalogue (SPEC §4); `undefined` when the brain has none (it does not answer the action). */
export type ReadCatalogue = () => Promise<BrainCatalogue['models'] | undefined>;

export interface StoredAnswer {
  statusCode: number;
  body: string;
  requestId: string;
}

/** A claim on an Idempotency-Key: the attempt that holds it, and the request id every attempt sends the brain. */
export interface IdempotencyClaim {
  recordId: string;
  /** Fencing token: only this attempt may complete, release or doubt the claim. */
  attempt: number;
  /** The first attempt's request id, kept by every later attempt (SPEC §3). */
  requestId: string;
  /** An earlier attempt may have reached the brain: releasing must keep the request id. */
  doubted: boolean;
}

/** When a claimed attempt is over: expected (to tell repeats when to come back) and at the latest. */
export interface ClaimTimes {
  now: number;
  /** The holder should have its answer by then (the brain timeout). */
  expectedBy: number;
  /** If the holder died, the brain has surely stopped by then: the claim may be taken over. */
  settlesBy: number;
}

export type BeginOutcome =
  | { kind: 'claimed'; claim: IdempotencyClaim }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'different_body' }
  /** Another attempt runs, or one may have reached the brain: no retry before `retryAt` (epoch ms). */
  | { kind: 'busy'; state: 'in_progress' | 'in_doubt'; retryAt: number; requestId: string }
  /** The brain answered, but the answer was too large to keep: it can never be replayed. */
  | { kind: 'unreplayable'; requestId: string };

export interface IdempotencyStore {
  /**
   * Claims `idempotencyKey` for this user and body: a fresh claim sends `requestId`; taking
   * over a lapsed or retryable claim keeps the first attempt's. Otherwise says why not.
   */
  begin(
    userId: string,
    idempotencyKey: string,
    body: unknown,
    requestId: string,
    times: ClaimTimes,
  ): Promise<BeginOutcome>;
  /** Stores the answer that repeats replay; `unreplayable` when even compressed it cannot be stored. */
  complete(claim: IdempotencyClaim, answer: StoredAnswer): Promise<'stored' | 'unreplayable'>;
  /** The brain may have acted and may still be working: repeats wait until `retryAt` (epoch ms). */
  markInDoubt(claim: IdempotencyClaim, retryAt: number): Promise<void>;
  /**
   * The brain surely did not act on this attempt: a never-doubted claim is deleted (the key may
   * be retried with any body); a doubted one becomes retryable at once, same body and request id.
   */
  release(claim: IdempotencyClaim, now: number): Promise<void>;
}

export interface RequestTelemetry {
  /** One brain call's outcome (the decision, or the error code) and how long it took. */
  brainOutcome(outcome: string, elapsedMs: number): void;
  /** A verified key's call refused because it is outside the key's scopes or project (403). */
  scopeRefused(): void;
}
