import type { APIGatewayProxyResult } from 'aws-lambda';
import { type ErrorCode, type ErrorDetail, errorEnvelope, statusOf } from '../../shared/errors.js';

/** Headers on every answer, from functions, gateway responses and the local runtime (SPEC §3). */
export const SECURITY_HEADERS = {
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
} as const;

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
): APIGatewayProxyResult {
  const extra: Record<string, string> = code === 'unauthorized' ? { 'WWW-Authenticate': 'Bearer' } : {};
  if (code === 'method_not_allowed') extra.Allow = 'POST';
  return jsonResponse(statusOf(code), errorEnvelope(code, requestId, message, details), requestId, extra);
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

export function getMultiHeader(
  multi: Record<string, string[] | undefined> | null | undefined,
  name: string,
): string[] {
  if (!multi) return [];
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, list] of Object.entries(multi)) {
    if (key.toLowerCase() === wanted && list) values.push(...list);
  }
  return values;
}
