/**
 * The official `openai` npm package, unchanged, pointed at a local stack: base URL
 * `<apiUrl>/v1`, the stack's self-signed certificate trusted through undici's Agent (real
 * verification, no rejectUnauthorized:false) and the SDK's own retries off (unless a test asks
 * for them), so every refusal reaches the test as the SDK's typed error. The requests it sends are recorded, headers
 * included, so tests can show what the SDK put on the wire.
 */
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ApiTarget } from './https.js';

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export interface OpenAiClientOptions {
  /** Headers on every request; `null` removes one the SDK would send (e.g. Authorization). */
  defaultHeaders?: Record<string, string | null>;
  /** Receives every request the SDK sends (headers lower-cased). */
  sent?: SentRequest[];
  /** Keep the SDK's own retries at its default (2); otherwise they are off. */
  sdkDefaultRetries?: boolean;
}

export interface OpenAiTestClient {
  client: OpenAI;
  close(): Promise<void>;
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const recorded: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    recorded[name] = value;
  });
  return recorded;
}

export function openaiClient(
  target: ApiTarget,
  apiKey: string,
  options: OpenAiClientOptions = {},
): OpenAiTestClient {
  const dispatcher = new Agent({ connect: { ca: target.caCertPem } });
  const fetch = (input: string | URL | Request, init?: RequestInit) => {
    options.sent?.push({
      method: init?.method ?? 'GET',
      url: String(input instanceof Request ? input.url : input),
      headers: headersOf(init),
    });
    return undiciFetch(input as never, init as never);
  };
  const client = new OpenAI({
    baseURL: `${target.apiUrl}/v1`,
    apiKey,
    ...(options.sdkDefaultRetries ? {} : { maxRetries: 0 }),
    timeout: 20_000,
    fetch: fetch as never,
    fetchOptions: { dispatcher } as never,
    ...(options.defaultHeaders ? { defaultHeaders: options.defaultHeaders } : {}),
  });
  return { client, close: () => dispatcher.close() };
}
