/** Real HTTPS calls to the local API, verifying its certificate against the generated one. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { expect } from 'vitest';

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

export interface HttpsCall {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface ApiTarget {
  apiUrl: string;
  caCertPem: string;
}

/** Reads a whole answer: status, headers, text and the parsed JSON (undefined when not JSON). */
export function readAnswer(response: IncomingMessage): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
    });
    response.on('error', reject);
  });
}

export function callApi(target: ApiTarget, call: HttpsCall = {}): Promise<HttpsAnswer> {
  const url = new URL(call.path ?? '/api/v1/requests', target.apiUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: call.method ?? 'POST',
        headers: call.headers ?? {},
        // Real verification against the stack's self-signed certificate, no rejectUnauthorized:false.
        ca: target.caCertPem,
        agent: false,
      },
      (response) => readAnswer(response).then(resolve, reject),
    );
    outgoing.on('error', reject);
    outgoing.end(call.body);
  });
}

export const jsonHeaders = (apiKey?: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'Content-Type': 'application/json',
  ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
  ...extra,
});

export const CHAT_BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Hello from the end-to-end tests' }],
};

export function modelBody(provider: string, model: string): string {
  return JSON.stringify({ ...CHAT_BODY, provider, model });
}

/** SPEC §3: every answer carries these, success or error, from a function or from the gateway. */
export function expectSecurityHeaders(answer: HttpsAnswer): void {
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
}

export interface Envelope {
  success: false;
  error: { code: string; type: string; message: string; details?: Array<{ path: string; message: string }> };
  request_id: string;
}

/** The one error envelope, its status, code and the security headers; returns the envelope. */
export function expectEnvelope(answer: HttpsAnswer, status: number, code: string): Envelope {
  expect({ status: answer.status, body: answer.json }).toMatchObject({
    status,
    body: { success: false, error: { code } },
  });
  expectSecurityHeaders(answer);
  const envelope = answer.json as Envelope;
  expect(envelope.request_id).toBe(answer.headers['x-request-id']);
  expect(envelope.error.message.length).toBeGreaterThan(0);
  // OpenAI's error type for the status (SPEC §3), on function-made and gateway-made answers alike;
  // a spent budget is OpenAI's own `insufficient_quota` (SPEC §5b), which its SDKs do not retry.
  expect(envelope.error.type).toBe(
    code === 'budget_exceeded'
      ? 'insufficient_quota'
      : status === 401
        ? 'authentication_error'
        : status === 403
          ? 'permission_error'
          : status === 429
            ? 'rate_limit_error'
            : status >= 500
              ? 'api_error'
              : 'invalid_request_error',
  );
  return envelope;
}
