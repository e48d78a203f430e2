/**
 * What every answer of the API must be, whatever was sent (SPEC §3): one of the allowed
 * statuses, never a 500, the 200 shape or the one error envelope (its code matching the
 * status), the security headers, and nothing of the inside — no stack trace, file path,
 * Lambda error type or brain message. Failure messages name the status, code and marker,
 * never the request (which carries a key).
 */
import { expect } from 'vitest';
import { ERROR_CODES, type ErrorCode, openAiTypeOf, statusOf } from '../../shared/errors.js';
import { type Envelope, expectSecurityHeaders, type HttpsAnswer } from '../e2e/support/https.js';

/** Text that must never reach a caller: stack frames, paths, runtime error shapes, the brain's own words. */
export const INTERNAL_MARKERS: readonly RegExp[] = [
  /"stack"/i,
  /\bstack ?trace\b/i,
  /^\s*at /m,
  / {4}at /,
  /node_modules/,
  /\/work\//,
  /file:\/\//,
  /\.[cm]?[jt]s:\d+/,
  /errorType/,
  /errorMessage/,
  /\btrace\b/,
  /Exception/,
  /Sandbox\.Timedout/,
  /Simulated/,
  /TypeError|ReferenceError|SyntaxError|RangeError/,
];

export function expectNoInternals(text: string, what = 'answer body'): void {
  for (const marker of INTERNAL_MARKERS) {
    expect(marker.test(text), `${what} shows internals (${marker})`).toBe(false);
  }
}

export interface CheckedAnswer {
  status: number;
  requestId: string;
  /** The envelope of a non-2xx answer. */
  envelope?: Envelope;
  /** The body of a 200. */
  success?: Record<string, unknown>;
}

const SUCCESS_KEYS = ['decision', 'message', 'payment', 'request_id', 'response', 'success'];

/**
 * Checks an answer against SPEC §3 and `allowed` statuses. 500 fails even when listed:
 * no input may make the API fail unexpectedly.
 */
export function expectApiAnswer(answer: HttpsAnswer, allowed: readonly number[], label = ''): CheckedAnswer {
  const code = (answer.json as Envelope | undefined)?.error?.code;
  const where = `${label ? `${label}: ` : ''}status ${answer.status}${code ? ` (${code})` : ''}`;
  expect(answer.status, `${where} is a 500`).not.toBe(500);
  expect(allowed, `${where} is not one of ${allowed.join('/')}`).toContain(answer.status);
  expectSecurityHeaders(answer);
  expectNoInternals(answer.text, `${where} body`);
  const requestId = String(answer.headers['x-request-id']);

  expect(answer.json, `${where}: body is not JSON`).toEqual(expect.any(Object));
  const body = answer.json as Record<string, unknown>;
  expect(body.request_id, `${where}: request_id differs from X-Request-Id`).toBe(requestId);
  if (answer.status === 200) {
    expect(Object.keys(body).sort(), `${where}: not the success shape`).toEqual(SUCCESS_KEYS);
    expect(typeof body.success).toBe('boolean');
    return { status: 200, requestId, success: body };
  }

  expect(Object.keys(body).sort(), `${where}: not the error envelope`).toEqual([
    'error',
    'request_id',
    'success',
  ]);
  const envelope = body as unknown as Envelope;
  expect(envelope.success).toBe(false);
  expect(ERROR_CODES, `${where}: unknown error code`).toContain(envelope.error.code);
  expect(statusOf(envelope.error.code as ErrorCode), `${where}: code does not match the status`).toBe(
    answer.status,
  );
  expect(envelope.error.message).toEqual(expect.any(String));
  expect(envelope.error.message.length).toBeGreaterThan(0);
  expect(envelope.error.type, `${where}: not OpenAI's error type for the status`).toBe(
    openAiTypeOf(envelope.error.code as ErrorCode),
  );
  for (const key of Object.keys(envelope.error))
    expect(['code', 'type', 'message', 'details']).toContain(key);
  if (envelope.error.details !== undefined) {
    expect(Array.isArray(envelope.error.details)).toBe(true);
    for (const detail of envelope.error.details) {
      expect(detail).toEqual({ path: expect.any(String), message: expect.any(String) });
    }
  }
  return { status: answer.status, requestId, envelope };
}
