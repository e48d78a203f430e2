/**
 * Lambda proxy answers with SPEC §3's headers (JSON, X-Request-Id, the security headers) and
 * the error envelope: one definition for every function behind API Gateway.
 */
import {
  anthropicErrorBody,
  DEFAULT_MESSAGES,
  type ErrorCode,
  type ErrorDetail,
  errorEnvelope,
  errorHeaders,
  SECURITY_HEADERS,
  SHOULD_RETRY_HEADER,
  shouldRetry,
  statusOf,
} from '../../errors.js';

/** A Lambda proxy answer (the shape of aws-lambda's APIGatewayProxyResult; shared/ takes no Lambda types). */
export interface ProxyAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

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
): ProxyAnswer {
  return { statusCode, headers: jsonHeaders(requestId, extraHeaders), body: JSON.stringify(body) };
}

/** Which body an error answer has: keygate's envelope (SPEC §3), or Anthropic's on its routes (SPEC §3d). */
export type ErrorShape = 'keygate' | 'anthropic';

export function errorResponse(
  code: ErrorCode,
  requestId: string,
  message?: string,
  details?: ErrorDetail[],
  extraHeaders: Record<string, string> = {},
  shape: ErrorShape = 'keygate',
): ProxyAnswer {
  const body =
    shape === 'anthropic'
      ? anthropicErrorBody(code, message ?? DEFAULT_MESSAGES[code], requestId)
      : errorEnvelope(code, requestId, message, details);
  return jsonResponse(statusOf(code), body, requestId, {
    ...errorHeaders(code),
    [SHOULD_RETRY_HEADER]: String(shouldRetry(code, 'Retry-After' in extraHeaders)),
    ...extraHeaders,
  });
}
