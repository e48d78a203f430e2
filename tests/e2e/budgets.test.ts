/**
 * Spend budgets as a caller sees them (SPEC §3, §3b, §5b), over real HTTPS on the local
 * stack: budgeted keys created through keys-admin, the real authorizer and requests function
 * holding and settling on the Budgets table in DynamoDB Local, and the reference brain's own
 * logic behind the local Invoke API, its invocations and payments recorded per user so the
 * test can count exactly which calls reached it and what it paid.
 *
 * Two scripted slownesses, nothing else changed: agent_id `budget-burst` makes the brain wait
 * until every call of the burst has either reached it or been answered 429 (so all 50 run at
 * once for real, and no settlement frees room mid-burst), and agent_id `budget-slow` makes it
 * answer after a while (a client that hangs up meanwhile). `test-timeout` stalls briefly.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { type APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import type { LocalStack } from '../../local/stack.js';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';
import { paymentMicros } from '../../shared/domain/budgets/money.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import {
  CHAT_BODY,
  callApi,
  expectEnvelope,
  expectSecurityHeaders,
  type HttpsAnswer,
  jsonHeaders,
} from './support/https.js';
import { openaiClient } from './support/openai.js';
import { startTestStack } from './support/stack.js';

const BURST_AGENT = 'budget-burst';
const SLOW_AGENT = 'budget-slow';
/** How long `budget-slow` and `test-timeout` keep the brain busy: well inside the brain wait. */
const SLOW_MS = 1_500;
const BRAIN_WAIT_MS = 12_000;

interface BrainCall {
  request: BrainRequest;
  answer?: { payment?: { actual_amount: number; currency: string } | null };
  done: boolean;
}

let stack: LocalStack;
let admin: KeysAdminClient;
const brainCalls: BrainCall[] = [];
/** Calls of the burst the test has seen answered (the brain's gate counts them). */
let burstAnswered = 0;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    brainTimeoutMs: BRAIN_WAIT_MS,
    functionTimeoutsMs: { 'reference-brain': BRAIN_WAIT_MS + 2_000 },
    handlerOverrides: {
      'reference-brain': async (event) => {
        const call: BrainCall = { request: event as BrainRequest, done: false };
        brainCalls.push(call);
        try {
          if (call.request.agent_id === BURST_AGENT) {
            const userCalls = () =>
              brainCalls.filter((other) => other.request.user_id === call.request.user_id).length;
            const started = Date.now();
            while (userCalls() + burstAnswered < 50 && Date.now() - started < 8_000) await sleep(10);
          }
          if (call.request.agent_id === SLOW_AGENT) await sleep(SLOW_MS);
          call.answer = (await referenceBrain(event, { stallMs: SLOW_MS })) as BrainCall['answer'];
          return call.answer;
        } finally {
          call.done = true;
        }
      },
    },
  });
  admin = keysAdminClient(stack.lambdaUrl);
});

afterAll(async () => {
  for (const close of closers) await close();
  admin?.close();
  await stack?.stop();
});

interface BudgetView {
  limit: number;
  period: string;
  perCallHold: number;
  spent: number;
  held: number;
  remaining: number;
  resetsAt: string | null;
}

interface BudgetedKey {
  userId: string;
  keyId: string;
  apiKey: string;
}

async function budgetedKey(label: string, budget: Record<string, unknown>): Promise<BudgetedKey> {
  const userId = `budget-${label}-${randomUUID().slice(0, 8)}`;
  await admin.expectOk({ action: 'create-user', userId });
  const created = await admin.expectOk({ action: 'create', userId, name: label, budget });
  if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
  return { userId, keyId: created.key.keyId, apiKey: created.apiKey };
}

async function budgetOf(key: BudgetedKey): Promise<BudgetView> {
  const metadata = (await admin.getKey(key.userId, key.keyId)) as unknown as { budget: BudgetView | null };
  if (!metadata.budget) throw new Error('the key shows no budget');
  return metadata.budget;
}

const callsOf = (key: BudgetedKey) => brainCalls.filter((call) => call.request.user_id === key.userId);
/** What the brain paid for this key's calls, in micro-dollars, as the ledger counts it. */
const paidMicros = (key: BudgetedKey) =>
  callsOf(key).reduce(
    (sum, call) => sum + (call.answer?.payment ? paymentMicros(call.answer.payment.actual_amount) : 0),
    0,
  );

const post = (key: BudgetedKey, fields: Record<string, unknown> = {}) =>
  callApi(stack, { headers: jsonHeaders(key.apiKey), body: JSON.stringify({ ...CHAT_BODY, ...fields }) });

const header = (answer: HttpsAnswer, name: string) =>
  answer.headers[name.toLowerCase()] as string | undefined;
const secondsToMidnight = () =>
  Math.ceil((Date.parse(new Date().toISOString().slice(0, 10)) + 86_400_000 - Date.now()) / 1000);

async function eventually(check: () => Promise<boolean>, maxMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > maxMs) throw new Error('condition not reached in time');
    await sleep(50);
  }
}

describe('a key with a budget of exactly 7 holds', () => {
  it('50 parallel calls: exactly 7 reach the brain, 43 get 429 budget_exceeded, spent = what it paid, held back to 0', async () => {
    const key = await budgetedKey('burst', { limit: 0.7, period: 'day', perCallHold: 0.1 });
    expect(await budgetOf(key)).toMatchObject({
      limit: 0.7,
      period: 'day',
      perCallHold: 0.1,
      spent: 0,
      held: 0,
      remaining: 0.7,
    });
    // Do not straddle midnight (the day's budget would reset mid-burst).
    if (secondsToMidnight() < 60) await sleep(secondsToMidnight() * 1000 + 1000);

    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        post(key, { agent_id: BURST_AGENT }).then((answer) => {
          burstAnswered += 1;
          return answer;
        }),
      ),
    );

    const approved = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(approved).toHaveLength(7);
    expect(refused).toHaveLength(43);
    expect(callsOf(key)).toHaveLength(7);
    for (const call of callsOf(key))
      expect(call.request.spend_limit).toEqual({ amount: 0.1, currency: 'USD' });
    for (const answer of answers) {
      expectSecurityHeaders(answer);
      expect(header(answer, 'X-Budget-Limit')).toBe('0.700000');
      expect(header(answer, 'X-Budget-Remaining')).toMatch(/^\d+\.\d{6}$/);
      expect(Math.abs(Number(header(answer, 'X-Budget-Reset')) - secondsToMidnight())).toBeLessThanOrEqual(5);
    }
    for (const answer of refused) {
      const envelope = expectEnvelope(answer, 429, 'budget_exceeded');
      expect(envelope.error.type).toBe('insufficient_quota');
      expect(envelope.error.message).toMatch(/budget of \$0\.700000/);
      expect(Math.abs(Number(header(answer, 'Retry-After')) - secondsToMidnight())).toBeLessThanOrEqual(5);
      // Refused while the 7 holds stood: nothing was left for another.
      expect(Number(header(answer, 'X-Budget-Remaining'))).toBeLessThan(0.1);
    }

    const spent = paidMicros(key);
    expect(spent).toBeGreaterThan(0);
    expect(await budgetOf(key)).toMatchObject({
      spent: spent / 1e6,
      held: 0,
      remaining: (700_000 - spent) / 1e6,
    });
  });
});

describe('the OpenAI SDK on /v1/chat/completions', () => {
  it('gets a RateLimitError with code budget_exceeded and type insufficient_quota once the budget is spent', async () => {
    const key = await budgetedKey('sdk', { limit: 0.1, period: 'month', perCallHold: 0.1 });
    const made = openaiClient(stack, key.apiKey);
    closers.push(made.close);
    const messages = [{ role: 'user' as const, content: 'Say hello.' }];

    const first = await made.client.chat.completions
      .create({ model: 'gpt-4o-mini', messages })
      .withResponse();
    expect(first.data.object).toBe('chat.completion');
    expect(first.response.headers.get('x-budget-limit')).toBe('0.100000');
    expect(first.response.headers.get('x-budget-remaining')).toBe(
      ((100_000 - paidMicros(key)) / 1e6).toFixed(6),
    );
    const error = await made.client.chat.completions.create({ model: 'gpt-4o-mini', messages }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const refusal = error as APIError;
    expect(refusal.status).toBe(429);
    expect(refusal.code).toBe('budget_exceeded');
    expect(refusal.type).toBe('insufficient_quota');
    expect(refusal.headers?.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(refusal.headers?.get('x-budget-limit')).toBe('0.100000');
    expect(refusal.headers?.get('x-budget-reset')).toMatch(/^[1-9][0-9]*$/);
    expect(callsOf(key)).toHaveLength(1);
  });
});

/** Sends a call and hangs up after `afterMs`, while the brain still works on it. */
function abandonedCall(key: BudgetedKey, fields: Record<string, unknown>, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const outgoing = request(new URL('/api/v1/requests', stack.apiUrl), {
      method: 'POST',
      headers: jsonHeaders(key.apiKey),
      ca: stack.caCertPem,
      agent: false,
    });
    outgoing.on('error', () => resolve());
    outgoing.on('response', () => resolve());
    outgoing.end(JSON.stringify({ ...CHAT_BODY, ...fields }));
    setTimeout(() => {
      outgoing.destroy();
      resolve();
    }, afterMs);
  });
}

describe('a client that disconnects mid-call', () => {
  it.each([
    ['an approved call (the brain pays)', { agent_id: SLOW_AGENT }],
    [
      'test-timeout with a short stall (the brain rejects late)',
      { provider: 'reference', model: 'test-timeout' },
    ],
  ])('%s: the hold is settled all the same', async (_label, fields) => {
    const key = await budgetedKey('disconnect', { limit: 0.7, period: 'day', perCallHold: 0.1 });

    await abandonedCall(key, fields, 300);
    // The brain is still at work on the call the client left: its hold stands.
    await eventually(async () => callsOf(key).length === 1);
    expect(callsOf(key)[0]?.done).toBe(false);
    expect(await budgetOf(key)).toMatchObject({ held: 0.1 });

    await eventually(async () => callsOf(key)[0]?.done === true);
    await eventually(async () => (await budgetOf(key)).held === 0);
    const spent = paidMicros(key);
    expect(await budgetOf(key)).toMatchObject({
      spent: spent / 1e6,
      held: 0,
      remaining: (700_000 - spent) / 1e6,
    });
    expect(callsOf(key)).toHaveLength(1);
  });
});

describe('a brain that pays more than the hold', () => {
  it('is recorded in full and the key is refused afterwards', async () => {
    const key = await budgetedKey('overspend', { limit: 0.7, period: 'day', perCallHold: 0.1 });

    const answer = await post(key, { provider: 'reference', model: 'test-overspend' });

    expect(answer.status).toBe(200);
    expect((answer.json as { payment: { actual_amount: number } }).payment.actual_amount).toBe(0.200001);
    expect(await budgetOf(key)).toMatchObject({ spent: 0.200001, held: 0, remaining: 0.499999 });
    const refused = await post(key);
    const envelope = expectEnvelope(refused, 429, 'budget_exceeded');
    expect(envelope.error.type).toBe('insufficient_quota');
    expect(Number(header(refused, 'Retry-After'))).toBeGreaterThan(0);
    expect(callsOf(key)).toHaveLength(1);
  });
});
