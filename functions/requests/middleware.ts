/**
 * middy middlewares of the requests function: the envelope for every error, the key's limit
 * headers on every answer, and the checks SPEC §3's order implies before parsing (auth, the
 * key's limits, 405, 415, 413).
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { type ErrorShape, errorResponse } from '../../shared/adapters/http/proxy-answers.js';
import { micros } from '../../shared/domain/budgets/money.js';
import { budgetHeadersOf, budgetStatusWithoutWrite } from '../../shared/domain/budgets/state.js';
import { type LimitRefusal, limitHeadersOf } from '../../shared/domain/keys/admission.js';
import type { LimitStatus } from '../../shared/domain/keys/limits.js';
import type { LogSink } from '../../shared/domain/ports.js';
import { MAX_BODY_BYTES } from '../../shared/domain/requests/schema.js';
import { DEFAULT_MESSAGES, type ErrorCode, HttpError } from '../../shared/errors.js';
import { admissionOfEvent } from './admission-of-event.js';
import { getHeader } from './answers.js';
import { budgetStatusOfEvent } from './budget-status.js';

type ProxyMiddleware = MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult>;

const JSON_MEDIA_TYPE = /^application\/json[ \t]*(;.*)?$/i;

export function requestIdOf(event: Partial<APIGatewayProxyEvent> | null | undefined): string {
  const id = event?.requestContext?.requestId;
  return typeof id === 'string' && id.length > 0 ? id : 'unknown';
}

/**
 * Turns any thrown error into an envelope answer; 5xx show a generic message, details go to the
 * log, and every error answer is counted (`RequestError` by code) when metrics are given.
 * `shapeOf`: the body's shape for the event's route (Anthropic's on its routes).
 */
export function errorAnswers(
  logger: Pick<LogSink, 'error'>,
  metrics?: Pick<Metrics, 'singleMetric'>,
  shapeOf: (resource: string | undefined) => ErrorShape = () => 'keygate',
): ProxyMiddleware {
  const count = (code: ErrorCode) => {
    if (!metrics) return;
    const metric = metrics.singleMetric();
    metric.addDimension('code', code);
    metric.addMetric('RequestError', MetricUnit.Count, 1);
  };
  return {
    onError: async (request) => {
      const error = request.error;
      const requestId = requestIdOf(request.event);
      const shape = shapeOf(request.event?.resource);
      const code: ErrorCode =
        error instanceof HttpError
          ? error.code
          : (error as { cause?: { package?: string } } | null)?.cause?.package ===
              '@middy/http-json-body-parser'
            ? 'invalid_json'
            : 'internal_error';
      count(code);
      if (error instanceof HttpError) {
        if (!error.expose) {
          logger.error('request failed', {
            request_id: requestId,
            code: error.code,
            // The cause's name and the start of its message: whoever threw logged the full detail.
            cause:
              error.cause instanceof Error
                ? `${error.cause.name}: ${error.cause.message.slice(0, 300)}`
                : undefined,
          });
        }
        request.response = errorResponse(
          error.code,
          requestId,
          error.publicMessage(),
          error.details,
          error.headers,
          shape,
        );
        return;
      }
      if (code === 'invalid_json') {
        request.response = errorResponse('invalid_json', requestId, undefined, undefined, {}, shape);
        return;
      }
      logger.error('unexpected error', {
        request_id: requestId,
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message : String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
      request.response = errorResponse('internal_error', requestId, undefined, undefined, {}, shape);
    },
  };
}

function fail(code: ErrorCode): never {
  throw new HttpError(code);
}

const seconds = (count: number) => `${count} second${count === 1 ? '' : 's'}`;

/** What a caller over a limit should do: when to retry, or that waiting does not help. */
function limitMessage(reason: LimitRefusal['reason'], limits: LimitStatus, wait: number | undefined): string {
  if (reason === 'rate_limited') {
    if (wait === undefined) return DEFAULT_MESSAGES.rate_limited;
    const allowed = limits.rate ? `${limits.rate.limit} requests` : 'requests';
    return `This API key has made the ${allowed} its rate limit allows in this window; retry in ${seconds(wait)} (Retry-After).`;
  }
  const quota = limits.quota ? ` of ${limits.quota.limit} requests` : '';
  if (wait === undefined) {
    return `This API key has used up its lifetime quota${quota}; waiting will not help: ask for a higher quota or use another key.`;
  }
  return `This API key has used up its quota${quota} for this period; retry in ${seconds(wait)} (Retry-After), when the next period starts.`;
}

/** The 429 for a call the authorizer admitted over a key limit (docs/decisions/0007). */
export function limitRefusalError(refusal: LimitRefusal, limits: LimitStatus): HttpError {
  const wait =
    refusal.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(refusal.retryAfterSeconds));
  return new HttpError(refusal.reason, limitMessage(refusal.reason, limits, wait), undefined, {
    headers: wait === undefined ? {} : { 'Retry-After': String(wait) },
  });
}

/** What a route takes: its one method, and whether it has a JSON body. */
export interface RouteGuard {
  method: 'GET' | 'POST';
  body: boolean;
}

/**
 * Authentication is API Gateway's first step; then the key's limits (429: a call over one is
 * admitted by the authorizer with the refusal in its context, answered here without reading
 * the body), then 405, 415, 413 in SPEC §3's order. `guardOf`: the route's guard, by the
 * event's `resource` (the route table's path).
 */
export function requestGuards(guardOf: (resource: string | undefined) => RouteGuard): ProxyMiddleware {
  return {
    before: async (request) => {
      const event = request.event;
      const context = event.requestContext?.authorizer;
      if (!context || typeof context.userId !== 'string' || typeof context.keyId !== 'string')
        fail('unauthorized');
      const admission = admissionOfEvent(event);
      if (admission.refusal) throw limitRefusalError(admission.refusal, admission.limits);
      const guard = guardOf(event.resource);
      if (event.httpMethod !== guard.method) {
        throw new HttpError('method_not_allowed', undefined, undefined, { headers: { Allow: guard.method } });
      }
      if (!guard.body) return;
      const contentType = getHeader(event.headers, 'content-type');
      if (!contentType || !JSON_MEDIA_TYPE.test(contentType)) fail('unsupported_media_type');
      const body = event.body;
      if (body === null || body === undefined || body === '') fail('invalid_json');
      const bytes = event.isBase64Encoded
        ? Buffer.from(body, 'base64').length
        : Buffer.byteLength(body, 'utf8');
      if (bytes > MAX_BODY_BYTES) fail('payload_too_large');
    },
  };
}

/** A body parser for the routes that take a body only (`guardOf` as for requestGuards). */
export function jsonBodyOf(
  parser: ProxyMiddleware,
  guardOf: (resource: string | undefined) => RouteGuard,
): ProxyMiddleware {
  return {
    before: async (request) => {
      if (guardOf(request.event.resource).body) return parser.before?.(request);
    },
  };
}

/**
 * Anthropic's SDKs read the request id from `request-id` (an error's `requestID`, a message's
 * `_request_id`): on its routes every answer carries it too, beside `X-Request-Id`.
 */
export function anthropicRequestIdHeader(
  isAnthropicRoute: (resource: string | undefined) => boolean,
): ProxyMiddleware {
  const stamp: NonNullable<ProxyMiddleware['after']> = (request) => {
    const response = request.response;
    if (!response || !isAnthropicRoute(request.event?.resource)) return;
    request.response = {
      ...response,
      headers: { ...response.headers, 'request-id': requestIdOf(request.event) },
    };
  };
  return { after: stamp, onError: stamp };
}

/**
 * SPEC §3: every answer to a key with a rate limit, quota or budget carries its headers — 200s,
 * replays and every error this function makes (the 429 included). One place, after the
 * handler and after errorAnswers, so no path can miss them: `.use` it before errorAnswers.
 */
export function limitHeaders(): ProxyMiddleware {
  const stamp: NonNullable<ProxyMiddleware['after']> = (request) => {
    const response = request.response;
    if (!response || !request.event?.requestContext?.authorizer) return;
    const admission = admissionOfEvent(request.event);
    const headers = limitHeadersOf(admission.limits);
    if (admission.budget) {
      // The numbers of this call's own budget write; without one, what the key item says.
      const status =
        budgetStatusOfEvent(request.event) ??
        budgetStatusWithoutWrite(micros(admission.budget.limit), admission.budget.period, new Date());
      Object.assign(headers, budgetHeadersOf(status));
    }
    if (Object.keys(headers).length === 0) return;
    request.response = { ...response, headers: { ...response.headers, ...headers } };
  };
  return { after: stamp, onError: stamp };
}
