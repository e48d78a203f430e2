import { describe, expect, it } from 'vitest';
import { getHeader } from '../../functions/requests/answers.js';
import { errorResponse } from '../../shared/adapters/http/proxy-answers.js';
import {
  AUTH_MESSAGES,
  DEFAULT_MESSAGES,
  ERROR_CODES,
  errorEnvelope,
  HttpError,
  openAiTypeOf,
  SHOULD_RETRY_HEADER,
  shouldRetry,
  statusOf,
} from '../../shared/errors.js';

describe('the error codes', () => {
  it('map to the statuses of SPEC §3', () => {
    expect(Object.fromEntries(ERROR_CODES.map((code) => [code, statusOf(code)]))).toEqual({
      invalid_json: 400,
      invalid_request: 400,
      unauthorized: 401,
      forbidden: 403,
      not_found: 404,
      method_not_allowed: 405,
      idempotency_conflict: 409,
      payload_too_large: 413,
      unsupported_media_type: 415,
      rate_limited: 429,
      quota_exceeded: 429,
      budget_exceeded: 429,
      internal_error: 500,
      brain_error: 502,
      brain_unavailable: 503,
      brain_timeout: 504,
    });
  });

  it("carry OpenAI's error type for their status (SPEC §3)", () => {
    expect(Object.fromEntries(ERROR_CODES.map((code) => [code, openAiTypeOf(code)]))).toEqual({
      invalid_json: 'invalid_request_error',
      invalid_request: 'invalid_request_error',
      unauthorized: 'authentication_error',
      forbidden: 'permission_error',
      not_found: 'invalid_request_error',
      method_not_allowed: 'invalid_request_error',
      idempotency_conflict: 'invalid_request_error',
      payload_too_large: 'invalid_request_error',
      unsupported_media_type: 'invalid_request_error',
      rate_limited: 'rate_limit_error',
      quota_exceeded: 'rate_limit_error',
      // OpenAI's own code for money spent: its SDKs and agents stop retrying on it.
      budget_exceeded: 'insufficient_quota',
      internal_error: 'api_error',
      brain_error: 'api_error',
      brain_unavailable: 'api_error',
      brain_timeout: 'api_error',
    });
  });

  it('have messages that gateway response templates can embed in JSON verbatim', () => {
    for (const message of [...Object.values(DEFAULT_MESSAGES), ...Object.values(AUTH_MESSAGES)]) {
      expect(message).not.toMatch(/["\\\n]/);
      expect(message.length).toBeGreaterThan(0);
    }
  });
});

describe('HttpError', () => {
  it('shows its own message for 4xx and only the generic one for 5xx', () => {
    const client = new HttpError('invalid_request', 'field x is wrong');
    const server = new HttpError('brain_error', 'ledger at 10.0.0.7 down', undefined, {
      cause: new Error('x'),
    });

    expect([client.status, client.expose, client.publicMessage()]).toEqual([400, true, 'field x is wrong']);
    expect([server.status, server.expose, server.publicMessage()]).toEqual([
      502,
      false,
      DEFAULT_MESSAGES.brain_error,
    ]);
  });
});

describe('the envelope', () => {
  it('omits empty details and carries the request id', () => {
    expect(errorEnvelope('not_found', 'r-1', undefined, [])).toEqual({
      success: false,
      error: { code: 'not_found', type: 'invalid_request_error', message: DEFAULT_MESSAGES.not_found },
      request_id: 'r-1',
    });
  });

  it('adds WWW-Authenticate to 401 and Allow to 405 answers, with the headers every answer carries', () => {
    const unauthorized = errorResponse('unauthorized', 'r-2');
    const notAllowed = errorResponse('method_not_allowed', 'r-3');

    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.headers).toMatchObject({
      'WWW-Authenticate': 'Bearer',
      'Content-Type': 'application/json',
      'X-Request-Id': 'r-2',
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'Cache-Control': 'no-store',
    });
    expect(notAllowed.headers).toMatchObject({ Allow: 'POST' });
  });

  it('reads headers case-insensitively and tolerates a null map', () => {
    expect(getHeader({ 'content-TYPE': 'application/json' }, 'Content-Type')).toBe('application/json');
    expect(getHeader(null, 'Content-Type')).toBeUndefined();
  });
});

describe('x-should-retry (SPEC §3b: what an SDK may retry by itself)', () => {
  it('is true only for a 429 that names its wait and for 503', () => {
    const retried = ERROR_CODES.filter((code) => shouldRetry(code, true));
    expect(retried.sort()).toEqual([
      'brain_unavailable',
      'budget_exceeded',
      'quota_exceeded',
      'rate_limited',
    ]);
    expect(ERROR_CODES.filter((code) => shouldRetry(code, false))).toEqual(['brain_unavailable']);
  });

  it('is on every error answer, from its code and its Retry-After', () => {
    for (const code of ERROR_CODES) {
      expect(errorResponse(code, 'r').headers[SHOULD_RETRY_HEADER]).toBe(
        String(code === 'brain_unavailable'),
      );
    }
    expect(
      errorResponse('rate_limited', 'r', undefined, undefined, { 'Retry-After': '3' }).headers,
    ).toMatchObject({
      [SHOULD_RETRY_HEADER]: 'true',
    });
    expect(errorResponse('brain_timeout', 'r').headers[SHOULD_RETRY_HEADER]).toBe('false');
  });

  it('can be overridden by the error (a 409 whose repeat replays the answer)', () => {
    const error = new HttpError('idempotency_conflict', 'still running', undefined, {
      headers: { 'Retry-After': '2' },
      shouldRetry: true,
    });
    expect(
      errorResponse(error.code, 'r', error.message, undefined, { ...error.headers }).headers,
    ).toMatchObject({
      [SHOULD_RETRY_HEADER]: 'true',
      'Retry-After': '2',
    });
    expect(new HttpError('idempotency_conflict').headers).toEqual({});
  });
});
