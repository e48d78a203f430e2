/**
 * What request processing needs from outside: the brain, an idempotency record store and
 * somewhere to report brain outcomes. Adapters implement them (shared/adapters); tests
 * pass fakes.
 */
import type { BrainDecisionAnswer, BrainRequest } from '../brain/contract.js';

/** Invokes the brain once; throws an HttpError (502/503/504) for every way it can fail. */
export type InvokeBrain = (request: BrainRequest) => Promise<BrainDecisionAnswer>;

export interface StoredAnswer {
  statusCode: number;
  body: string;
  requestId: string;
}

export type BeginOutcome =
  | { kind: 'claimed'; recordId: string }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'conflict'; reason: 'different_body' | 'in_progress' };

export interface IdempotencyStore {
  /** Claims `idempotencyKey` for this user and body, or says why not (replay, conflict). */
  begin(userId: string, idempotencyKey: string, body: unknown): Promise<BeginOutcome>;
  /** Stores the answer that repeats replay. */
  complete(recordId: string, answer: StoredAnswer): Promise<void>;
  /** Gives the key back after an outcome that may be retried. */
  release(recordId: string): Promise<void>;
}

export interface RequestTelemetry {
  /** One brain call's outcome (the decision, or the error code) and how long it took. */
  brainOutcome(outcome: string, elapsedMs: number): void;
}
