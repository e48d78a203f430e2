/**
 * Per-key limits, scopes and project binding as a caller sees them (SPEC §3, §5), over real
 * HTTPS on the local stack: keys issued by keys-admin, their limits and scopes written onto
 * their ApiKeys items (as `update` stores them), the real authorizer counting in DynamoDB
 * Local and the requests function answering 429 / 403 with the limit headers. The brain is
 * the reference brain's own logic, with its invocations recorded, so the test can show which
 * calls reached it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import type { LocalStack } from '../../local/stack.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';
import { hashKey } from '../../shared/domain/keys/format.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import {
  CHAT_BODY,
  callApi,
  expectEnvelope,
  expectSecurityHeaders,
  type HttpsAnswer,
  jsonHeaders,
} from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
let doc: DynamoDBDocumentClient;
const brainRequests: BrainRequest[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    handlerOverrides: {
      'reference-brain': async (event) => {
        brainRequests.push(event as BrainRequest);
        return referenceBrain(event);
      },
    },
  });
  admin = keysAdminClient(stack.lambdaUrl);
  doc = createDocumentClient({ endpoint: stack.dynamodbEndpoint });
});

afterAll(async () => {
  admin?.close();
  doc?.destroy();
  await stack?.stop();
});

/** The attributes keys-admin `update` stores (docs/decisions/0007), written onto the key's item. */
interface KeyGrantAttributes {
  rate_limit?: number;
  rate_window?: number;
  quota_limit?: number;
  quota_period?: 'day' | 'month' | 'total';
  scopes?: { providers?: string[]; models?: string[]; operations?: string[] };
  project_bound?: boolean;
  project_id?: string;
}

async function keyWith(label: string, attributes: KeyGrantAttributes): Promise<string> {
  const { apiKey } = await admin.createUserWithKey(`${label}-${randomUUID().slice(0, 8)}`);
  const entries = Object.entries(attributes);
  if (entries.length === 0) return apiKey;
  await doc.send(
    new UpdateCommand({
      TableName: stack.tableNames.apiKeys,
      Key: { key_hash: hashKey(apiKey) },
      UpdateExpression: `SET ${entries.map((_, index) => `#a${index} = :v${index}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(entries.map(([name], index) => [`#a${index}`, name])),
      ExpressionAttributeValues: Object.fromEntries(entries.map(([, value], index) => [`:v${index}`, value])),
      ConditionExpression: 'attribute_exists(key_hash)',
    }),
  );
  return apiKey;
}

const post = (apiKey: string, body: unknown = CHAT_BODY, extra: Record<string, string> = {}) =>
  callApi(stack, { headers: jsonHeaders(apiKey, extra), body: JSON.stringify(body) });

const header = (answer: HttpsAnswer, name: string) =>
  answer.headers[name.toLowerCase()] as string | undefined;

const secondsInWindow = (windowSeconds: number) =>
  windowSeconds - (Math.floor(Date.now() / 1000) % windowSeconds);

describe('a key with a rate limit', () => {
  it('admits exactly its limit, counting down RateLimit-Remaining, then answers 429 rate_limited with Retry-After', async () => {
    const apiKey = await keyWith('rate', { rate_limit: 3, rate_window: 3600 });
    // Windows are aligned to the epoch: start well inside one, so all six calls share it.
    if (secondsInWindow(3600) < 30) await sleep(secondsInWindow(3600) * 1000 + 1000);
    const calls = brainRequests.length;

    const answers: HttpsAnswer[] = [];
    for (let index = 0; index < 6; index += 1) answers.push(await post(apiKey));

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429, 429]);
    expect(brainRequests.length - calls).toBe(3);
    expect(answers.map((answer) => header(answer, 'RateLimit-Remaining'))).toEqual([
      '2',
      '1',
      '0',
      '0',
      '0',
      '0',
    ]);
    for (const answer of answers) {
      expectSecurityHeaders(answer);
      expect(header(answer, 'RateLimit-Limit')).toBe('3');
      const reset = Number(header(answer, 'RateLimit-Reset'));
      expect(Number.isInteger(reset) && reset >= 1 && reset <= 3600).toBe(true);
      expect(header(answer, 'X-Quota-Limit')).toBeUndefined();
    }
    for (const answer of answers.slice(0, 3)) expect(header(answer, 'Retry-After')).toBeUndefined();
    for (const answer of answers.slice(3)) {
      const envelope = expectEnvelope(answer, 429, 'rate_limited');
      expect(envelope.error.type).toBe('rate_limit_error');
      expect(envelope.error.message).toMatch(/retry in \d+ seconds?/);
      const retryAfter = header(answer, 'Retry-After');
      expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
      expect(Number(retryAfter)).toBeLessThanOrEqual(3600);
      // Both count down to the same window's end.
      expect(Math.abs(Number(retryAfter) - Number(header(answer, 'RateLimit-Reset')))).toBeLessThanOrEqual(1);
    }
  });

  it('answers 429 before the method, the media type, the size or the body is looked at', async () => {
    const apiKey = await keyWith('rate-order', { rate_limit: 1, rate_window: 3600 });
    if (secondsInWindow(3600) < 30) await sleep(secondsInWindow(3600) * 1000 + 1000);
    expect((await post(apiKey)).status).toBe(200);
    const calls = brainRequests.length;

    const refused = [
      await callApi(stack, { method: 'GET', headers: { Authorization: `Bearer ${apiKey}` } }),
      await callApi(stack, {
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'text/plain' },
        body: 'hello',
      }),
      await callApi(stack, { headers: jsonHeaders(apiKey), body: '{not json' }),
      await callApi(stack, {
        headers: jsonHeaders(apiKey),
        body: JSON.stringify({ ...CHAT_BODY, prompt: 'x'.repeat(1024 * 1024 + 1) }),
      }),
      await post(apiKey, { provider: 'Not A Slug', unknown_field: true }),
    ];

    for (const answer of refused) {
      expectEnvelope(answer, 429, 'rate_limited');
      expect(header(answer, 'Retry-After')).toMatch(/^[1-9][0-9]*$/);
      expect(header(answer, 'RateLimit-Limit')).toBe('1');
      expect(header(answer, 'RateLimit-Remaining')).toBe('0');
    }
    expect(brainRequests.length).toBe(calls);
  });
});

describe('a key with a quota', () => {
  it('answers a spent total quota 429 quota_exceeded without Retry-After, and the quota headers on every answer', async () => {
    const apiKey = await keyWith('quota', { quota_limit: 2, quota_period: 'total' });

    const answers = [await post(apiKey), await post(apiKey), await post(apiKey), await post(apiKey)];

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429, 429]);
    expect(answers.map((answer) => header(answer, 'X-Quota-Remaining'))).toEqual(['1', '0', '0', '0']);
    for (const answer of answers) {
      expect(header(answer, 'X-Quota-Limit')).toBe('2');
      // A lifetime quota never resets.
      expect(header(answer, 'X-Quota-Reset')).toBeUndefined();
      expect(header(answer, 'RateLimit-Limit')).toBeUndefined();
    }
    for (const answer of answers.slice(2)) {
      const envelope = expectEnvelope(answer, 429, 'quota_exceeded');
      expect(envelope.error.type).toBe('rate_limit_error');
      expect(envelope.error.message).toMatch(/waiting will not help/);
      expect(header(answer, 'Retry-After')).toBeUndefined();
    }
  });

  it('counts a daily quota with X-Quota-Reset until the next UTC day', async () => {
    const apiKey = await keyWith('quota-day', { quota_limit: 5, quota_period: 'day' });

    const answer = await post(apiKey);

    expect(answer.status).toBe(200);
    expect(header(answer, 'X-Quota-Limit')).toBe('5');
    expect(header(answer, 'X-Quota-Remaining')).toBe('4');
    const reset = Number(header(answer, 'X-Quota-Reset'));
    expect(Number.isInteger(reset) && reset >= 1 && reset <= 86_400).toBe(true);
  });
});

describe('a key with scopes and a bound project', () => {
  const grant: KeyGrantAttributes = {
    scopes: { providers: ['openai'], models: ['gpt-4o*'], operations: ['chat'] },
    project_bound: true,
    project_id: 'proj-bound',
  };

  it('answers 403 forbidden naming every field outside the grant', async () => {
    const apiKey = await keyWith('scoped', grant);

    const answer = await post(apiKey, {
      ...CHAT_BODY,
      provider: 'anthropic',
      model: 'claude-3-haiku',
      operation_type: 'completion',
      project_id: 'proj-other',
    });

    const envelope = expectEnvelope(answer, 403, 'forbidden');
    expect(envelope.error.type).toBe('permission_error');
    expect(envelope.error.details?.map((detail) => detail.path)).toEqual([
      'provider',
      'model',
      'operation_type',
      'project_id',
    ]);
  });

  it('never lets a refused request reach the brain or use its Idempotency-Key', async () => {
    const apiKey = await keyWith('scoped-idem', grant);
    const idempotencyKey = randomUUID();
    const calls = brainRequests.length;

    const refused = await post(
      apiKey,
      { ...CHAT_BODY, model: 'gpt-3.5-turbo' },
      { 'Idempotency-Key': idempotencyKey },
    );
    const envelope = expectEnvelope(refused, 403, 'forbidden');
    expect(envelope.error.details?.map((detail) => detail.path)).toEqual(['model']);
    expect(brainRequests.length).toBe(calls);

    // The same Idempotency-Key with the scope fixed: processed fresh, not a 409 and not a replay.
    const fixed = await post(apiKey, CHAT_BODY, { 'Idempotency-Key': idempotencyKey });
    expect(fixed.status).toBe(200);
    expect(header(fixed, 'Idempotent-Replayed')).toBeUndefined();
    expect((fixed.json as { request_id: string }).request_id).toBe(header(fixed, 'X-Request-Id'));
    expect(brainRequests.slice(calls).map((request) => request.request_id)).toEqual([
      header(fixed, 'X-Request-Id'),
    ]);
    // The key's project, since the body names none.
    expect(brainRequests.at(-1)?.project_id).toBe('proj-bound');
  });

  it('refuses another project_id on the bound key and admits its own', async () => {
    const apiKey = await keyWith('bound', { project_bound: true, project_id: 'proj-bound' });

    const other = await post(apiKey, { ...CHAT_BODY, project_id: 'proj-other' });
    const own = await post(apiKey, { ...CHAT_BODY, project_id: 'proj-bound' });

    expect(expectEnvelope(other, 403, 'forbidden').error.details?.map((detail) => detail.path)).toEqual([
      'project_id',
    ]);
    expect(own.status).toBe(200);
  });

  it('lets an unbound key name another project', async () => {
    const apiKey = await keyWith('unbound', {});
    const calls = brainRequests.length;

    const answer = await post(apiKey, { ...CHAT_BODY, project_id: 'proj-elsewhere' });

    expect(answer.status).toBe(200);
    expect(brainRequests.slice(calls).map((request) => request.project_id)).toEqual(['proj-elsewhere']);
  });

  it('carries the limit headers on the 403 of a key that has limits', async () => {
    const apiKey = await keyWith('scoped-limited', { ...grant, rate_limit: 10, rate_window: 60 });

    const answer = await post(apiKey, { ...CHAT_BODY, provider: 'ollama' });

    expectEnvelope(answer, 403, 'forbidden');
    expect(header(answer, 'RateLimit-Limit')).toBe('10');
    expect(header(answer, 'RateLimit-Remaining')).toMatch(/^[0-9]$/);
  });
});
