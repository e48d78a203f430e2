/**
 * The official `@anthropic-ai/sdk` package, unchanged, pointed at a local stack as Claude-Code
 * style agents are (`ANTHROPIC_BASE_URL=<apiUrl>`): the stack's self-signed certificate trusted
 * through undici's Agent (real verification), the SDK's own retries off unless a test asks for
 * them, so every refusal reaches the test as the SDK's typed error.
 */
import Anthropic from '@anthropic-ai/sdk';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ApiTarget } from './https.js';

export interface AnthropicTestClient {
  client: Anthropic;
  close(): Promise<void>;
}

export function anthropicClient(
  target: ApiTarget,
  apiKey: string,
  options: { sdkDefaultRetries?: boolean; authToken?: boolean } = {},
): AnthropicTestClient {
  const dispatcher = new Agent({ connect: { ca: target.caCertPem } });
  const client = new Anthropic({
    baseURL: target.apiUrl,
    // x-api-key by default; `authToken` sends the key as Authorization: Bearer instead.
    ...(options.authToken ? { apiKey: null, authToken: apiKey } : { apiKey }),
    ...(options.sdkDefaultRetries ? {} : { maxRetries: 0 }),
    timeout: 20_000,
    fetch: undiciFetch as never,
    fetchOptions: { dispatcher } as never,
  });
  return { client, close: () => dispatcher.close() };
}
