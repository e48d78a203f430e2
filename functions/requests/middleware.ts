/**
 * middy middlewares of the requests function: the envelope for every error, and the
 * checks API Gateway's order of operations implies (auth, 405, 415, 413) before parsing.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { LogSink } from '../../shared/domain/ports.js';
import { MAX_BODY_BYTES } from '../../shared/domain/requests/schema.js';
import { type ErrorCode, HttpError } from '../../shared/errors.js';
import { errorResponse, getHeader } from './answers.js';

type ProxyMiddleware = MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult>;

const JSON_MEDIA_TYPE = /^application\/json[ \t]*(;.*)?$/i;

export function requestIdOf(event: Partial<APIGatewayProxyEvent> | null | undefined): string {
  const id = event?.requestContext?.requestId;
  return typeof id === 'string' && id.length > 0 ? id : 'unknown';
}

/**
 * Turns any thrown error into an envelope answer; 5xx show a generic message, details go to the
 * log, and every error answer is counted (`RequestError` by code) when metrics are given.
 */
export function errorAnswers(
  logger: Pick<LogSink, 'error'>,
  metrics?: Pick<Metrics, 'singleMetric'>,
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
        request.response = errorResponse(error.code, requestId, error.publicMessage(), error.details);
        return;
      }
      if (code === 'invalid_json') {
        request.response = errorResponse('invalid_json', requestId);
        return;
      }
      logger.error('unexpected error', {
        request_id: requestId,
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message : String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
      request.response = errorResponse('internal_error', requestId);
    },
  };
}

function fail(code: ErrorCode): never {
  throw new HttpError(code);
}

/** Authentication is API Gateway's first step; then 405, 415, 413 in SPEC §3's order. */
export function requestGuards(options: { allowedMethod: string }): ProxyMiddleware {
  return {
    before: async (request) => {
      const event = request.event;
      const context = event.requestContext?.authorizer;
      if (!context || typeof context.userId !== 'string' || typeof context.keyId !== 'string')
        fail('unauthorized');
      if (event.httpMethod !== options.allowedMethod) fail('method_not_allowed');
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
