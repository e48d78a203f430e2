/** The requests function's Lambda proxy answers (SPEC §3 headers) and header lookup. */
import type { APIGatewayProxyResult } from 'aws-lambda';
import {
  type ErrorCode,
  type ErrorDetail,
  errorEnvelope,
  errorHeaders,
  SECURITY_HEADERS,
  statusOf,
} from '../../shared/errors.js';

export function jsonHeaders(requestId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'X-Request-Id': requestId,
    ...SECURITY_HEADERS,
    ...extra,
  };
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: jsonHeaders(requestId, extraHeaders), body: JSON.stringify(body) };
}

export function errorResponse(
  code: ErrorCode,
  requestId: string,
  message?: string,
  details?: ErrorDetail[],
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  return jsonResponse(statusOf(code), errorEnvelope(code, requestId, message, details), requestId, {
    ...errorHeaders(code),
    ...extraHeaders,
  });
}

/** Case-insensitive header lookup: API Gateway passes names as the client spelled them. */
export function getHeader(
  headers: Record<string, string | undefined> | null | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
