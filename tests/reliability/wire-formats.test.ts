/**
 * The one pipeline on every wire format (SPEC §3d, §3e): POST /v1/messages and POST
 * /v1/responses, streamed and not, through the real local stack with the real reference brain
 * (counted). Under concurrency each route counts exactly, admits exactly its key's limit,
 * holds a budget exactly, and invokes the brain once per Idempotency-Key — as
 * /api/v1/requests and /v1/chat/completions do (./concurrency.test.ts, ../e2e/budgets.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useKeyedStack } from '../e2e/support/keyed-stack.js';
import { type ApiClient, createApiClient, type TimedAnswer } from '../support/api-client.js';

const N = 40;

let api: ApiClient;

const e2e = useKeyedStack({}, { countedBrain: true });
const { keyWith } = e2e;
beforeAll(() => {
  api = createApiClient(e2e.stack, { maxSockets: N });
});
afterAll(() => api?.close());

interface Route {
  name: string;
  path: string;
  /** A valid body, streamed or not. */
  body(stream: boolean): string;
  headers(apiKey: string): Record<string, string>;
  /** The error's code/type as this route writes it. */
  errorType(answer: TimedAnswer): string | undefined;
}

const ROUTES: Route[] = [
  {
    name: 'POST /v1/messages',
    path: '/v1/messages',
    body: (stream) =>
      JSON.stringify({
        model: 'claude-sonnet-4',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Count me once.' }],
        ...(stream ? { stream: true } : {}),
      }),
    headers: (apiKey) => ({
      'Content-Type': 'application/json',
      'x-api-key': apiKey,
      'anthropic-version': '2023-06-01',
    }),
    errorType: (answer) => (JSON.parse(answer.text) as { error?: { type?: string } }).error?.type,
  },
  {
    name: 'POST /v1/responses',
    path: '/v1/responses',
    body: (stream) =>
      JSON.stringify({
        model: 'gpt-4o-mini',
        input: 'Count me once.',
        store: false,
        ...(stream ? { stream: true } : {}),
      }),
    headers: (apiKey) => ({ 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` }),
    errorType: (answer) => (JSON.parse(answer.text) as { error?: { code?: string } }).error?.code,
  },
];

const send = (route: Route, apiKey: string, stream: boolean, headers: Record<string, string> = {}) =>
  api.call({ path: route.path, headers: { ...route.headers(apiKey), ...headers }, body: route.body(stream) });

/** A streamed answer ended as a stream ends on success (not on an error event). */
function completedStream(route: Route, answer: TimedAnswer): boolean {
  if (!String(answer.headers['content-type']).startsWith('text/event-stream')) return false;
  return route.path === '/v1/messages'
    ? answer.text.includes('event: message_stop')
    : answer.text.includes('event: response.completed');
}

describe.each(ROUTES)('$name under concurrency', (route) => {
  it(`${N} parallel calls, half streamed: every one answered, counted exactly, one brain call each`, async () => {
    const key = await keyWith('count');
    const answers = await Promise.all(
      Array.from({ length: N }, (_, index) => send(route, key.apiKey, index % 2 === 0)),
    );
    for (const [index, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      if (index % 2 === 0) expect(completedStream(route, answer)).toBe(true);
    }
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(N);
    expect(e2e.brain.callsOf(key.userId)).toHaveLength(N);
  });

  it(`a rate limit of 15: of ${N} parallel calls exactly 15 pass, the rest 429 in the route's shape`, async () => {
    const key = await keyWith('limited', { rateLimit: { limit: 15, windowSeconds: 3600 } });
    const answers = await Promise.all(
      Array.from({ length: N }, (_, index) => send(route, key.apiKey, index % 2 === 1)),
    );
    const passed = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(passed).toHaveLength(15);
    expect(refused).toHaveLength(N - 15);
    for (const answer of refused) {
      expect(route.errorType(answer)).toBe(
        route.path === '/v1/messages' ? 'rate_limit_error' : 'rate_limited',
      );
      expect(answer.headers['retry-after']).toMatch(/^\d+$/);
    }
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(15);
    expect(e2e.brain.callsOf(key.userId)).toHaveLength(15);
  });

  it(`a budget of exactly 5 holds: of ${N} parallel calls, half streamed, exactly 5 reach the brain and the spend is what it paid`, async () => {
    const key = await keyWith('budget', { budget: { limit: 0.5, period: 'total', perCallHold: 0.1 } });
    const answers = await Promise.all(
      Array.from({ length: N }, (_, index) => send(route, key.apiKey, index % 2 === 0)),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(refused).toHaveLength(N - 5);
    for (const answer of refused)
      expect(route.errorType(answer)).toBe(
        route.path === '/v1/messages' ? 'rate_limit_error' : 'budget_exceeded',
      );
    const calls = e2e.brain.callsOf(key.userId);
    expect(calls).toHaveLength(5);
    const paid = calls.reduce((sum, call) => {
      const id = e2e.brain.paymentIdOf(call);
      const answer = call.answer as { payment?: { actual_amount?: number } } | undefined;
      return id === undefined ? sum : sum + Math.round((answer?.payment?.actual_amount ?? 0) * 1e6);
    }, 0);
    const metadata = (await e2e.admin.getKey(key.userId, key.keyId)) as unknown as {
      budget: { spent: number; held: number };
    };
    expect(metadata.budget.held).toBe(0);
    expect(Math.round(metadata.budget.spent * 1e6)).toBe(paid);
  });

  it('20 parallel calls with one Idempotency-Key, streamed and not: the brain acts once; a later repeat replays', async () => {
    const key = await keyWith('idempotent');
    const headers = { 'Idempotency-Key': `wire-${randomUUID()}` };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => send(route, key.apiKey, index % 2 === 0, headers)),
    );
    for (const answer of answers) expect([200, 409]).toContain(answer.status);
    expect(answers.some((answer) => answer.status === 200)).toBe(true);
    expect(e2e.brain.callsOf(key.userId)).toHaveLength(1);

    for (const stream of [false, true]) {
      const repeat = await send(route, key.apiKey, stream, headers);
      expect(repeat.status).toBe(200);
      expect(repeat.headers['idempotent-replayed']).toBe('true');
      if (stream) expect(completedStream(route, repeat)).toBe(true);
    }
    expect(e2e.brain.callsOf(key.userId)).toHaveLength(1);
    // Every admitted call is counted, replays and 409s included (SPEC §5).
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(22);
  });
});
