/**
 * Request processing (SPEC §3): validate the body, check it against the key's scopes and
 * project binding, transform it, invoke the brain at most once per Idempotency-Key, answer.
 * Plain values in and out — the edge (functions/requests) turns the Lambda event into a
 * `RequestInput` and the `RequestAnswer` into a proxy answer, so a second route or a test can
 * use it without an event. Errors are thrown as HttpError.
 */

import { type ErrorDetail, HttpError } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import { type ScopeViolation, scopeViolations } from '../keys/scopes.js';
import type { LogSink } from '../ports.js';
import { issuesToDetails } from '../validation.js';
import type { IdempotencyStore, InvokeBrain, RequestTelemetry } from './ports.js';
import { apiRequestSchema, MAX_IDEMPOTENCY_KEY_LENGTH } from './schema.js';
import { type CallerIdentity, toBrainRequest } from './transform.js';

/** Deeper than any valid body (metadata allows 4 levels inside it); checked iteratively so hostile nesting cannot exhaust the stack. */
export const MAX_BODY_DEPTH = 12;
const MAX_DETAILS = 100;

export interface RequestInput {
  /** From the authorizer only, never from the body. */
  caller: CallerIdentity;
  requestId: string;
  /** The `Idempotency-Key` header, if sent. */
  idempotencyKey: string | undefined;
  /** The parsed JSON body. */
  body: unknown;
}

export interface RequestAnswer {
  statusCode: number;
  body: unknown;
  /** The request id the answer carries: the original one for a replay. */
  requestId: string;
  /** A stored answer replayed for a repeated Idempotency-Key. */
  replayed: boolean;
}

export interface RequestProcessorDeps {
  invokeBrain: InvokeBrain;
  idempotency: IdempotencyStore;
  logger: Pick<LogSink, 'info' | 'error'>;
  telemetry: RequestTelemetry;
}

export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const next = stack.pop();
    if (!next || next.value === null || typeof next.value !== 'object') continue;
    if (next.depth >= maxDepth) return true;
    for (const child of Object.values(next.value)) stack.push({ value: child, depth: next.depth + 1 });
  }
  return false;
}

function invalid(details: ErrorDetail[]): HttpError {
  const shown = details.slice(0, MAX_DETAILS);
  if (details.length > MAX_DETAILS) {
    shown.push({ path: '', message: `${details.length - MAX_DETAILS} more problems not listed` });
  }
  return new HttpError('invalid_request', undefined, shown);
}

/** 403 naming every field outside the key's grant, so the caller sees all it must change. */
function forbidden(violations: readonly ScopeViolation[]): HttpError {
  const fields = violations.map((violation) => violation.path).join(', ');
  return new HttpError(
    'forbidden',
    `This API key does not allow this request (${fields}); see details.`,
    violations.map(({ path, message }) => ({ path, message })),
  );
}

export function createRequestProcessor(deps: RequestProcessorDeps) {
  const { invokeBrain, idempotency, logger, telemetry } = deps;

  return async function processRequest(input: RequestInput): Promise<RequestAnswer> {
    const { caller, requestId, idempotencyKey, body } = input;
    if (
      idempotencyKey !== undefined &&
      (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    ) {
      throw invalid([
        { path: 'Idempotency-Key', message: `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters` },
      ]);
    }
    if (exceedsDepth(body, MAX_BODY_DEPTH)) {
      throw invalid([{ path: '', message: `body nests deeper than ${MAX_BODY_DEPTH} levels` }]);
    }
    const parsed = apiRequestSchema.safeParse(body, { reportInput: true });
    if (!parsed.success) throw invalid(issuesToDetails(parsed.error.issues));

    // The key's grant (SPEC §3 order): after the body is valid, before anything is claimed or paid.
    const violations = scopeViolations(caller, parsed.data);
    if (violations.length > 0) {
      logger.info('request outside the key scopes', {
        request_id: requestId,
        key_id: caller.keyId,
        fields: violations.map((violation) => violation.path),
      });
      throw forbidden(violations);
    }

    const brainRequest = toBrainRequest(parsed.data, caller, requestId);

    let claim: string | undefined;
    if (idempotencyKey !== undefined) {
      const outcome = await idempotency.begin(caller.userId, idempotencyKey, body);
      if (outcome.kind === 'replay') {
        logger.info('idempotent replay', {
          request_id: requestId,
          original_request_id: outcome.answer.requestId,
          key_id: caller.keyId,
        });
        return {
          statusCode: outcome.answer.statusCode,
          body: JSON.parse(outcome.answer.body),
          requestId: outcome.answer.requestId,
          replayed: true,
        };
      }
      if (outcome.kind === 'conflict') {
        throw new HttpError(
          'idempotency_conflict',
          outcome.reason === 'in_progress'
            ? 'A request with this Idempotency-Key is still being processed; retry after it completes.'
            : undefined,
        );
      }
      claim = outcome.recordId;
    }

    const started = Date.now();
    let answer: ApiSuccess;
    try {
      const decision = await invokeBrain(brainRequest);
      // SPEC §3: `success` is true only when approved, whatever the brain's own flag says.
      const success = decision.success && decision.decision.outcome === 'approved';
      answer = { ...decision, success, request_id: requestId };
      telemetry.brainOutcome(decision.decision.outcome, Date.now() - started);
    } catch (error) {
      telemetry.brainOutcome(
        error instanceof HttpError ? error.code : 'internal_error',
        Date.now() - started,
      );
      if (claim) {
        try {
          await idempotency.release(claim);
        } catch (releaseError) {
          // The caller still gets the brain's own error, not a 500; a retry sees 409 until the claim lapses.
          logger.error('idempotency claim not released', {
            request_id: requestId,
            error_name: releaseError instanceof Error ? releaseError.name : 'unknown',
          });
        }
      }
      throw error;
    }

    logger.info('request answered', {
      request_id: requestId,
      key_id: caller.keyId,
      outcome: answer.decision.outcome,
      brain_ms: Date.now() - started,
    });
    if (claim) {
      try {
        await idempotency.complete(claim, { statusCode: 200, body: JSON.stringify(answer), requestId });
      } catch (error) {
        // The caller still gets its answer; a repeat sees 409 until the claim lapses.
        logger.error('idempotency record not stored', {
          request_id: requestId,
          error_name: error instanceof Error ? error.name : 'unknown',
        });
      }
    }
    return { statusCode: 200, body: answer, requestId, replayed: false };
  };
}

export type ProcessRequest = ReturnType<typeof createRequestProcessor>;
