/**
 * HTTPS calls to the local API over one keep-alive agent that trusts the stack's own
 * certificate (real verification, no rejectUnauthorized:false). Unlike the e2e helper it
 * sends raw Buffers and repeated header lines (`{Authorization: ['Bearer a', 'Bearer b']}`),
 * and bounds every call, so a hang fails the test with a clear message instead of a timeout.
 */
import { Agent, request } from 'node:https';
import { type ApiTarget, type HttpsAnswer, readAnswer } from '../e2e/support/https.js';

/** A header with an array value is sent as several header lines. */
export type HeaderValues = Record<string, string | string[]>;

export interface ApiCall {
  method?: string;
  path?: string;
  headers?: HeaderValues;
  body?: string | Buffer;
  /** The call fails after this long without a complete answer; default 35 s (past API Gateway's 29 s). */
  timeoutMs?: number;
}

export interface TimedAnswer extends HttpsAnswer {
  /** Milliseconds from sending to the end of the answer. */
  ms: number;
}

export interface ApiClient {
  call(call?: ApiCall): Promise<TimedAnswer>;
  close(): void;
}

/** Thrown when the API gives no complete answer in time: the "never a hang" assertions catch it. */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
}

export function createApiClient(target: ApiTarget, options: { maxSockets?: number } = {}): ApiClient {
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, ca: target.caCertPem });
  return {
    call(call: ApiCall = {}) {
      const url = new URL(call.path ?? '/api/v1/requests', target.apiUrl);
      const timeoutMs = call.timeoutMs ?? 35_000;
      const started = performance.now();
      const headers = { ...call.headers };
      // Framed like curl frames it: Node sends a GET/DELETE/OPTIONS body without a length otherwise.
      if (call.body !== undefined && !Object.keys(headers).some((name) => /^content-length$/i.test(name))) {
        headers['Content-Length'] = String(Buffer.byteLength(call.body));
      }
      return new Promise<TimedAnswer>((resolve, reject) => {
        const outgoing = request(
          url,
          // The certificate is checked for the URL's host, whatever Host header a test sends.
          { method: call.method ?? 'POST', headers, ca: target.caCertPem, agent, servername: url.hostname },
          (response) => {
            readAnswer(response).then(
              (answer) => resolve({ ...answer, ms: performance.now() - started }),
              reject,
            );
          },
        );
        outgoing.setTimeout(timeoutMs, () =>
          outgoing.destroy(new NoAnswerError(`no answer from ${url.pathname} within ${timeoutMs} ms`)),
        );
        outgoing.on('error', reject);
        outgoing.end(call.body);
      });
    },
    close: () => agent.destroy(),
  };
}
