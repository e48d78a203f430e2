/**
 * The request path end to end: POST /api/v1/requests through the local HTTPS API
 * (API Gateway emulation → authorizer → requests → Invoke API → reference brain) at
 * concurrency 1, 8 and 32; then the same with a stub authorizer that allows every call
 * without a database call (bench/fixtures/stub-authorizer.ts, injected into the local stack),
 * to show key verification's share.
 */
import { startLocalStack } from '../local/stack.js';
import { stubAuthorizer } from './fixtures/stub-authorizer.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { round } from './lib/stats.js';

export const CONCURRENCY_LEVELS = [1, 8, 32] as const;

export interface RequestPathRow extends LoadResult {
  authorizer: boolean;
}

export interface RequestPathResult {
  rows: RequestPathRow[];
  /** Per concurrency: median with authorizer / median without. */
  auth_share: { concurrency: number; median_ratio: number; throughput_ratio: number }[];
}

const BODY = JSON.stringify({
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Benchmark: say hello in one word.' }],
  max_tokens: 16,
});

async function measure(authorizer: boolean, requestsPerLevel: number): Promise<RequestPathRow[]> {
  const stack = await startLocalStack({
    port: 0,
    lambdaPort: 0,
    throttle: false,
    seedDemo: true,
    ...(authorizer ? {} : { handlerOverrides: { authorizer: stubAuthorizer } }),
    log: () => {},
  });
  try {
    const apiKey = stack.demo?.apiKey;
    if (!apiKey) throw new Error('the local stack did not seed a demo key');
    const load = (concurrency: number, requests: number) =>
      runLoad({
        url: `${stack.apiUrl}/api/v1/requests`,
        ca: stack.caCertPem,
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
        body: BODY,
        concurrency,
        requests,
      });
    await load(4, 200); // warm up: JIT, connections, DynamoDB Local
    const rows: RequestPathRow[] = [];
    for (const concurrency of CONCURRENCY_LEVELS) {
      rows.push({ authorizer, ...(await load(concurrency, Math.max(requestsPerLevel, concurrency * 20))) });
    }
    return rows;
  } finally {
    await stack.stop();
  }
}

export async function runRequestPathBench(requestsPerLevel = 1000): Promise<RequestPathResult> {
  const withAuth = await measure(true, requestsPerLevel);
  const withoutAuth = await measure(false, requestsPerLevel);
  return {
    rows: [...withAuth, ...withoutAuth],
    auth_share: CONCURRENCY_LEVELS.map((concurrency) => {
      const a = withAuth.find((row) => row.concurrency === concurrency);
      const b = withoutAuth.find((row) => row.concurrency === concurrency);
      return {
        concurrency,
        median_ratio: a && b ? round(a.median_ms / b.median_ms, 2) : Number.NaN,
        throughput_ratio: a && b ? round(a.requests_per_second / b.requests_per_second, 2) : Number.NaN,
      };
    }),
  };
}
