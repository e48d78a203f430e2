/**
 * The one error module (SPEC §3): codes, their statuses, OpenAI error types and default
 * messages, the envelope (and its schema for OpenAPI), the headers every answer carries,
 * and the error the request path throws. The functions, the gateway responses (infra/),
 * the local runtime and OpenAPI all read it; a new error code touches only this file.
 */
import type * as z from 'zod';

export const ERROR_CODES = [
  'invalid_json',
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'idempotency_conflict',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'quota_exceeded',
  'budget_exceeded',
  'internal_error',
  'brain_error',
  'brain_unavailable',
  'brain_timeout',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'invalid_json':
    case 'invalid_request':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'idempotency_conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'rate_limited':
    case 'quota_exceeded':
    case 'budget_exceeded':
      return 429;
    case 'internal_error':
      return 500;
    case 'brain_error':
      return 502;
    case 'brain_unavailable':
      return 503;
    case 'brain_timeout':
      return 504;
  }
}

/**
 * OpenAI's error type for a status (SPEC §3), so OpenAI SDKs read our errors as their own:
 * 400/404/405/409/413/415 → invalid_request_error, 401 → authentication_error,
 * 403 → permission_error, 429 → rate_limit_error, 5xx → api_error; a spent spend budget is
 * `insufficient_quota`, as OpenAI calls a spent balance (SPEC §5b).
 */
export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'api_error';

export function openAiTypeOf(code: ErrorCode): OpenAiErrorType {
  if (code === 'budget_exceeded') return 'insufficient_quota';
  const status = statusOf(code);
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/**
 * Messages callers see by default; 5xx ones say what to do, never what broke inside.
 * No double quotes or backslashes: gateway response templates embed them in JSON verbatim.
 */
export const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  invalid_json: 'Request body is not valid JSON.',
  invalid_request: 'Request body does not match the schema; see details.',
  unauthorized: 'Invalid API key. Send it as Authorization: Bearer <key> or X-API-Key: <key>.',
  forbidden: 'This API key may not make this request; see details.',
  not_found: 'No such resource. The API serves POST /api/v1/requests.',
  method_not_allowed: 'Method not allowed. Use POST.',
  idempotency_conflict: 'Idempotency-Key was already used with a different request body, API key or project.',
  payload_too_large: 'Request body is larger than 1 MB.',
  unsupported_media_type: 'Send the body as JSON with Content-Type: application/json.',
  rate_limited: 'Too many requests; slow down and retry later.',
  quota_exceeded: 'This API key has used up its quota for the period; see X-Quota-Reset.',
  budget_exceeded: 'This API key has spent its budget for the period; see X-Budget-Reset.',
  internal_error: 'Internal error. Retry later; if it persists, contact support with the request_id.',
  brain_error: 'The brain failed to process the request. Retry later with the same request_id in mind.',
  brain_unavailable: 'The brain is busy. Retry after a short pause.',
  brain_timeout: 'The brain did not answer in time. Retry later.',
};

export interface ErrorDetail {
  path: string;
  message: string;
}

export interface ErrorEnvelope {
  success: false;
  error: { code: ErrorCode; type: OpenAiErrorType; message: string; details?: ErrorDetail[] };
  request_id: string;
}

export function errorEnvelope(
  code: ErrorCode,
  requestId: string,
  message: string = DEFAULT_MESSAGES[code],
  details?: ErrorDetail[],
): ErrorEnvelope {
  return {
    success: false,
    error: { code, type: openAiTypeOf(code), message, ...(details && details.length > 0 ? { details } : {}) },
    request_id: requestId,
  };
}

/**
 * The envelope as a zod schema, for OpenAPI. Built on demand with the caller's zod, so a
 * function that only needs the codes (the authorizer) bundles no zod for it.
 */
export function errorEnvelopeSchema(zod: typeof z) {
  return zod.object({
    success: zod.literal(false),
    error: zod.object({
      code: zod.enum(ERROR_CODES),
      type: zod.enum([
        'invalid_request_error',
        'authentication_error',
        'permission_error',
        'rate_limit_error',
        'insufficient_quota',
        'api_error',
      ]),
      message: zod.string(),
      details: zod.array(zod.object({ path: zod.string(), message: zod.string() })).optional(),
    }),
    request_id: zod.string(),
  });
}

/** Headers on every answer, from functions, gateway responses and the local runtime (SPEC §3). */
export const SECURITY_HEADERS = {
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * OpenAI's and Anthropic's SDKs retry 409, 429 and 5xx by themselves unless the answer says
 * `x-should-retry: false` (SPEC §3b). Every error answer says which: `true` only where a retry
 * is safe and can help — a 429 that names its wait (`Retry-After`), the brain throttled (503),
 * a repeat of an Idempotency-Key still running (it replays the answer once there is one; the
 * caller passes `true` for it) — and `false` everywhere else: a 502/504/500 after which the
 * brain may have acted (a retry without an Idempotency-Key would make it act again), a 409 in
 * doubt, and every refusal that no retry of the same request can change.
 */
export const SHOULD_RETRY_HEADER = 'x-should-retry';

export function shouldRetry(code: ErrorCode, hasRetryAfter: boolean): boolean {
  if (code === 'rate_limited' || code === 'quota_exceeded' || code === 'budget_exceeded')
    return hasRetryAfter;
  return code === 'brain_unavailable';
}

/** Headers an error answer adds for its code: how to authenticate (401), what is allowed (405). */
export function errorHeaders(code: ErrorCode): Record<string, string> {
  if (code === 'unauthorized') return { 'WWW-Authenticate': 'Bearer' };
  if (code === 'method_not_allowed') return { Allow: 'POST' };
  return {};
}

/** Thrown inside the request path; `expose` (status < 500) decides whether its message is shown. */
export class HttpError extends Error {
  readonly status: number;
  readonly expose: boolean;

  /** Headers the answer carries besides the envelope's own (`Retry-After` on a 409 or a 429). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_MESSAGES[code],
    readonly details?: ErrorDetail[],
    options?: {
      cause?: unknown;
      headers?: Record<string, string>;
      /** Overrides shouldRetry(code): a 409 whose repeat is safe and useful says so. */
      shouldRetry?: boolean;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.status = statusOf(code);
    this.expose = this.status < 500;
    this.headers = {
      ...(options?.headers ?? {}),
      ...(options?.shouldRetry === undefined ? {} : { [SHOULD_RETRY_HEADER]: String(options.shouldRetry) }),
    };
  }

  /** The caller-facing message: the real one for 4xx, the generic one for 5xx. */
  publicMessage(): string {
    return this.expose ? this.message : DEFAULT_MESSAGES[this.code];
  }
}

/** Authorizer refusal messages (SPEC §3): the gateway response shows them to the caller. */
export const AUTH_MESSAGES = {
  missing: 'Missing API key. Send it as Authorization: Bearer <key> or X-API-Key: <key>.',
  conflicting: 'Two different API keys were sent (Authorization and X-API-Key); send one.',
  malformed: 'Invalid API key.',
  other_environment:
    'API key is for the other environment: production takes kg_live_ keys, every other stage kg_test_ keys.',
  unknown: 'Invalid API key.',
  revoked: 'API key has been revoked.',
  expired: 'API key has expired.',
  suspended: 'API key belongs to a suspended account.',
  unavailable: 'API key could not be verified right now; retry shortly.',
} as const;

export type AuthRefusalReason = keyof typeof AUTH_MESSAGES;

/**
 * Anthropic's error type for a code (SPEC §3d), so Anthropic's SDKs raise their own classes:
 * 400/405/409/413/415/422 → invalid_request_error (413 → request_too_large), 401 →
 * authentication_error, 403 → permission_error, 404 → not_found_error, 429 (a spent budget
 * too) → rate_limit_error, 503 → overloaded_error, any other 5xx → api_error.
 */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'request_too_large'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'overloaded_error'
  | 'api_error';

export function anthropicErrorTypeOf(code: ErrorCode): AnthropicErrorType {
  const status = statusOf(code);
  if (status === 413) return 'request_too_large';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/** An error answer in Anthropic's shape, with our request id. */
export function anthropicErrorBody(
  code: ErrorCode,
  message: string,
  requestId: string,
): { type: 'error'; error: { type: AnthropicErrorType; message: string }; request_id: string } {
  return { type: 'error', error: { type: anthropicErrorTypeOf(code), message }, request_id: requestId };
}
