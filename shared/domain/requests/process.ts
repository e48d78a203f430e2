/** The requests function's domain: validate, transform, (idempotently) invoke the brain, answer. */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { InvokeBrain } from '../../adapters/brain-client.js';
import { type ErrorDetail, HttpError } from '../../errors.js';
import { requestIdOf } from '../../../functions/requests/middleware.js';
import { getHeader, jsonResponse } from '../../../functions/requests/answers.js';
import type { IdempotencyStore } from '../../adapters/dynamodb/idempotency-store.js';
import { DEFAULT_PROJECT_ID } from '../keys/service.js';
import type { LogSink } from '../../adapters/observability.js';
import { apiRequestSchema, issuesToDetails, MAX_IDEMPOTENCY_KEY_LENGTH } from './schema.js';
import type { ApiSuccess } from '../brain/contract.js';
import { type CallerIdentity, toBrainRequest } from './transform.js';

/** Deeper than any valid body (metadata allows 4 levels inside it); checked iteratively so hostile nesting cannot exhaust the stack. */
export const MAX_BODY_DEPTH = 12;
const MAX_DETAILS = 100;

export interface RequestProcessorDeps {
  invokeBrain: InvokeBrain;
  idempotency: IdempotencyStore;
  logger: Pick<LogSink, 'info' | 'error'>;
  metrics: Pick<Metrics, 'singleMetric'>;
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

function callerOf(event: APIGatewayProxyEvent): CallerIdentity {
  const context = event.requestContext.authorizer ?? {};
  const projectId =
    typeof context.projectId === 'string' && context.projectId !== ''
      ? context.projectId
      : DEFAULT_PROJECT_ID;
  return { userId: String(context.userId), keyId: String(context.keyId), projectId };
}

export function createRequestProcessor(deps: RequestProcessorDeps) {
  const { invokeBrain, idempotency, logger, metrics } = deps;

  function record(outcome: string, elapsedMs?: number): void {
    const metric = metrics.singleMetric();
    metric.addDimension('outcome', outcome);
    if (elapsedMs !== undefined) metric.addMetric('BrainLatency', MetricUnit.Milliseconds, elapsedMs);
    metric.addMetric('BrainOutcome', MetricUnit.Count, 1);
  }

  return async function processRequest(
    event: APIGatewayProxyEvent,
    body: unknown,
  ): Promise<APIGatewayProxyResult> {
    const requestId = requestIdOf(event);
    const caller = callerOf(event);

    const idempotencyKey = getHeader(event.headers, 'idempotency-key');
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
        return jsonResponse(
          outcome.answer.statusCode,
          JSON.parse(outcome.answer.body),
          outcome.answer.requestId,
          {
            'Idempotent-Replayed': 'true',
          },
        );
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
      record(decision.decision.outcome, Date.now() - started);
    } catch (error) {
      record(error instanceof HttpError ? error.code : 'internal_error', Date.now() - started);
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
    return jsonResponse(200, answer, requestId);
  };
}
