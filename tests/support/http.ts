/** Assertions on the requests function's proxy answers (SPEC §3 envelope and headers, SPEC §8 shape). */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { expect } from 'vitest';

export interface ParsedAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  error?: { code: string; message: string; details?: { path: string; message: string }[] };
}

const ALLOWED_TOP_LEVEL = ['body', 'headers', 'isBase64Encoded', 'multiValueHeaders', 'statusCode'];

/** Checks what every answer must carry and parses it; fails the test otherwise. */
export function parseAnswer(result: APIGatewayProxyResult, requestId?: string): ParsedAnswer {
  // API Gateway turns any other top-level key or a non-numeric status into its own 502.
  for (const key of Object.keys(result)) expect(ALLOWED_TOP_LEVEL).toContain(key);
  expect(Number.isInteger(result.statusCode)).toBe(true);
  const headers = (result.headers ?? {}) as Record<string, string>;
  expect(headers['Content-Type']).toBe('application/json');
  expect(headers['Strict-Transport-Security']).toBe('max-age=31536000; includeSubDomains');
  expect(headers['Cache-Control']).toBe('no-store');
  expect(headers['X-Request-Id']).toEqual(expect.any(String));
  if (requestId !== undefined) expect(headers['X-Request-Id']).toBe(requestId);
  const body = JSON.parse(result.body) as Record<string, unknown>;
  expect(body.request_id).toBe(headers['X-Request-Id']);
  if (result.statusCode === 200) {
    expect(Object.keys(body).sort()).toEqual([
      'decision',
      'message',
      'payment',
      'request_id',
      'response',
      'success',
    ]);
    return { status: 200, headers, body };
  }
  expect(Object.keys(body).sort()).toEqual(['error', 'request_id', 'success']);
  expect(body.success).toBe(false);
  const error = body.error as ParsedAnswer['error'];
  expect(error?.code).toEqual(expect.any(String));
  expect(error?.message).toEqual(expect.any(String));
  if (error?.details !== undefined) {
    expect(error.details.length).toBeGreaterThan(0);
    for (const detail of error.details) {
      expect(detail).toEqual({ path: expect.any(String), message: expect.any(String) });
    }
  }
  return { status: result.statusCode, headers, body, ...(error ? { error } : {}) };
}

export function detailPaths(answer: ParsedAnswer): string[] {
  return (answer.error?.details ?? []).map((detail) => detail.path);
}
