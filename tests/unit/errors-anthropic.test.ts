import { describe, expect, it } from 'vitest';
import { anthropicErrorBody, anthropicErrorTypeOf, type ErrorCode } from '../../shared/errors.js';

describe('anthropicErrorTypeOf', () => {
  it.each<[ErrorCode, string]>([
    ['invalid_json', 'invalid_request_error'],
    ['invalid_request', 'invalid_request_error'],
    ['idempotency_conflict', 'invalid_request_error'],
    ['payload_too_large', 'request_too_large'],
    ['unauthorized', 'authentication_error'],
    ['forbidden', 'permission_error'],
    ['not_found', 'not_found_error'],
    ['rate_limited', 'rate_limit_error'],
    ['quota_exceeded', 'rate_limit_error'],
    ['budget_exceeded', 'rate_limit_error'],
    ['brain_unavailable', 'overloaded_error'],
    ['internal_error', 'api_error'],
    ['brain_error', 'api_error'],
    ['brain_timeout', 'api_error'],
  ])('%s → %s', (code, type) => {
    expect(anthropicErrorTypeOf(code)).toBe(type);
  });
});

describe('anthropicErrorBody', () => {
  it('is Anthropic’s error shape with our request id', () => {
    expect(anthropicErrorBody('unauthorized', 'Invalid API key.', 'req_1')).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'Invalid API key.' },
      request_id: 'req_1',
    });
  });
});
