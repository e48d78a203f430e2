/**
 * The requests function's edge: the Lambda proxy event → the domain's plain input, the
 * domain's answer → a proxy answer, and brain outcomes → Powertools metrics.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { jsonHeaders, jsonResponse } from '../../shared/adapters/http/proxy-answers.js';
import { publishMetrics } from '../../shared/adapters/observability/metrics.js';
import type { BudgetTelemetry } from '../../shared/domain/budgets/ledger.js';
import { toUsd } from '../../shared/domain/budgets/money.js';
import { DEFAULT_PROJECT_ID } from '../../shared/domain/keys/model.js';
import type { RequestTelemetry } from '../../shared/domain/requests/ports.js';
import type { ChatStream, RequestAnswer, RequestInput } from '../../shared/domain/requests/process.js';
import type { CallerIdentity } from '../../shared/domain/requests/transform.js';
import type { WireHeaders } from '../../shared/domain/requests/wire-format.js';
import { admissionOfEvent } from './admission-of-event.js';
import { getHeader } from './answers.js';
import { rememberBudgetStatus } from './budget-status.js';
import { requestIdOf } from './middleware.js';

/**
 * Identity and grant from the authorizer context only (requestGuards already refused a call
 * without one), decoded as the authorizer encoded it (shared/domain/keys/admission.ts), once
 * per request (admission-of-event.ts).
 */
export function callerOf(event: APIGatewayProxyEvent): CallerIdentity {
  const context = event.requestContext.authorizer ?? {};
  const projectId =
    typeof context.projectId === 'string' && context.projectId !== ''
      ? context.projectId
      : DEFAULT_PROJECT_ID;
  const { projectBound, scopes, budget } = admissionOfEvent(event);
  return {
    userId: String(context.userId),
    keyId: String(context.keyId),
    projectId,
    projectBound,
    ...(scopes ? { scopes } : {}),
    ...(budget ? { budget } : {}),
  };
}

/** `timeLeftMs`: the invocation's remaining time (Context.getRemainingTimeInMillis). */
export function requestInputOf(
  event: APIGatewayProxyEvent,
  body: unknown,
  timeLeftMs?: number,
): RequestInput {
  return {
    caller: callerOf(event),
    requestId: requestIdOf(event),
    idempotencyKey: getHeader(event.headers, 'idempotency-key'),
    body,
    onBudget: (status) => rememberBudgetStatus(event, status),
    ...(timeLeftMs === undefined || !Number.isFinite(timeLeftMs)
      ? {}
      : { deadline: Date.now() + timeLeftMs }),
  };
}

/** The request's headers by lower-cased name, as the wire formats read them (project, agent, versions). */
export function headersOf(event: APIGatewayProxyEvent): WireHeaders {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  return headers;
}

export function proxyAnswerOf(answer: RequestAnswer): APIGatewayProxyResult {
  return jsonResponse(
    answer.statusCode,
    answer.body,
    answer.requestId,
    answer.replayed ? { 'Idempotent-Replayed': 'true' } : {},
  );
}

/** The headers of a streamed answer: server-sent events, never cached, the request id. */
export function streamHeadersOf(stream: ChatStream): Record<string, string> {
  return {
    ...jsonHeaders(stream.requestId, stream.replayed ? { 'Idempotent-Replayed': 'true' } : {}),
    'Content-Type': 'text/event-stream; charset=utf-8',
  };
}

/**
 * One EMF line per brain call: `BrainOutcome` (count) and `BrainLatency`, both by outcome and
 * over all outcomes (a second dimension set: percentiles cannot be summed across outcomes, so
 * the dashboard's p50/p90/p99 need the metric without `outcome`); and `ScopeRefusal` per 403.
 */
export function requestMetrics(metrics: Parameters<typeof publishMetrics>[0]): RequestTelemetry {
  return {
    brainOutcome(outcome, elapsedMs) {
      publishMetrics(
        metrics,
        [
          { name: 'BrainLatency', unit: MetricUnit.Milliseconds, value: elapsedMs },
          { name: 'BrainOutcome', unit: MetricUnit.Count, value: 1 },
        ],
        { outcome },
        { alsoOverall: true },
      );
    },
    scopeRefused() {
      publishMetrics(metrics, [{ name: 'ScopeRefusal', unit: MetricUnit.Count, value: 1 }]);
    },
  };
}

/**
 * Budget metrics (SPEC §5b, §7): `BudgetSpend` (USD settled; the dashboard's spend per stage),
 * `BudgetRefusal`, and the alarmed `BudgetOverspend`, `BudgetForeignCurrency` and
 * `BudgetSettlementFailed`.
 */
export function budgetMetrics(metrics: Parameters<typeof publishMetrics>[0]): BudgetTelemetry {
  const count = (name: string) => publishMetrics(metrics, [{ name, unit: MetricUnit.Count, value: 1 }]);
  return {
    refused: () => count('BudgetRefusal'),
    settled: (paid) =>
      publishMetrics(metrics, [{ name: 'BudgetSpend', unit: MetricUnit.NoUnit, value: toUsd(paid) }]),
    overspent: (excess) =>
      publishMetrics(metrics, [{ name: 'BudgetOverspend', unit: MetricUnit.NoUnit, value: toUsd(excess) }]),
    foreignCurrency: () => count('BudgetForeignCurrency'),
    settlementFailed: () => count('BudgetSettlementFailed'),
  };
}
