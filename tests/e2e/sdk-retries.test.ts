/**
 * SPEC §3b "Retries of SDKs": the official `openai` package at its DEFAULT maxRetries (2; it
 * retries 409, 429 and 5xx by itself and sends no Idempotency-Key) against the local stack.
 * An answer after which a retry could make the brain act twice, or can never succeed, says
 * `x-should-retry: false` and the SDK sends the request once; a 429 that names its wait and a
 * 503 say `true` and the SDK retries. The same on /v1/messages (the official
 * `@anthropic-ai/sdk`, which obeys the header too) and /v1/responses. The reference brain's
 * invocations are counted.
 */
import { randomUUID } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import type { LocalStack } from '../../local/stack.js';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { anthropicClient } from './support/anthropic.js';
import { refusalOf } from './support/keyed-stack.js';
import { openaiClient, type SentRequest } from './support/openai.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
const brainRequests: BrainRequest[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  stack = await startTestStack({
    // A short brain timeout, so test-timeout's 504 comes quickly.
    brainTimeoutMs: 1_500,
    handlerOverrides: {
      'reference-brain': async (event) => {
        brainRequests.push(event as BrainRequest);
        return referenceBrain(event, { stallMs: 3_000 });
      },
    },
  });
  admin = keysAdminClient(stack.lambdaUrl);
});

afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
  admin?.close();
  await stack?.stop();
});

async function keyWith(label: string, grant: Record<string, unknown> = {}): Promise<string> {
  const userId = `${label}-${randomUUID().slice(0, 8)}`;
  await admin.expectOk({ action: 'create-user', userId });
  const created = await admin.expectOk({ action: 'create', userId, name: label, ...grant });
  if (!created.apiKey) throw new Error('keys-admin create answered without a key');
  return created.apiKey;
}

/** The SDK at its default retries, recording every request it puts on the wire. */
function sdk(apiKey: string): { client: OpenAI; sent: SentRequest[] } {
  const sent: SentRequest[] = [];
  const made = openaiClient(stack, apiKey, { sent, sdkDefaultRetries: true });
  closers.push(made.close);
  return { client: made.client, sent };
}

const refusal = (call: Promise<unknown>) => refusalOf(APIError, call);

const HELLO = [{ role: 'user' as const, content: 'Hello' }];
const brainCallsFor = (model: string) =>
  brainRequests.filter((request) => request.model_name === model).length;

describe('answers after which a retry could make the brain act twice: x-should-retry false, sent once', () => {
  it.each([
    ['test-error', 502, 'brain_error'],
    ['test-malformed', 502, 'brain_error'],
    ['test-timeout', 504, 'brain_timeout'],
  ])('reference/%s → %i %s, the brain invoked once', async (model, status, code) => {
    const { client, sent } = sdk(await keyWith(model));
    const before = brainCallsFor(model);
    const error = await refusal(
      client.chat.completions.create({ model: `reference/${model}`, messages: HELLO }),
    );
    expect(error.status).toBe(status);
    expect((error.error as { code?: string }).code).toBe(code);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(sent).toHaveLength(1);
    expect(brainCallsFor(model) - before).toBe(1);
  });

  it('409 for an Idempotency-Key reused with another body: sent once, the brain not invoked again', async () => {
    const { client, sent } = sdk(await keyWith('conflict'));
    const options = { headers: { 'Idempotency-Key': `retry-${randomUUID()}` } };
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }, options);
    const before = brainRequests.length;
    const error = await refusal(
      client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Another body' }] },
        options,
      ),
    );
    expect(error.status).toBe(409);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(sent).toHaveLength(2);
    expect(brainRequests.length).toBe(before);
  });

  it('refusals no retry can change (401, 400, 403) say false too', async () => {
    const { client, sent } = sdk('kg_test_notakeyatall');
    const unauthorized = await refusal(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }),
    );
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers?.get('x-should-retry')).toBe('false');

    const scoped = sdk(await keyWith('scoped', { scopes: { providers: ['anthropic'] } }));
    const forbidden = await refusal(
      scoped.client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }),
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers?.get('x-should-retry')).toBe('false');
    const invalid = await refusal(
      scoped.client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
    );
    expect(invalid.status).toBe(400);
    expect(invalid.headers?.get('x-should-retry')).toBe('false');
    expect(sent.length + scoped.sent.length).toBe(3);
  });

  it('a lifetime quota used up (429 without Retry-After): false, sent once', async () => {
    const { client, sent } = sdk(await keyWith('quota', { quota: { limit: 1, period: 'total' } }));
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });
    const error = await refusal(client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }));
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBeNull();
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(sent).toHaveLength(2);
  });
});

describe('answers where a retry is safe and useful: x-should-retry true, the SDK retries', () => {
  it('429 with Retry-After: the SDK waits as told and its retry is admitted', async () => {
    const { client, sent } = sdk(await keyWith('rate', { rateLimit: { limit: 1, windowSeconds: 2 } }));
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });
    const before = brainRequests.length;
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: HELLO })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.object).toBe('chat.completion');
    // The first attempt was refused (429, true), the SDK's retry after Retry-After admitted.
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(brainRequests.length - before).toBe(1);
  }, 20_000);

  it('503 (the brain throttled): true, and the SDK retries twice', async () => {
    const { client, sent } = sdk(await keyWith('throttle'));
    const before = brainCallsFor('test-throttle');
    const error = await refusal(
      client.chat.completions.create({ model: 'reference/test-throttle', messages: HELLO }),
    );
    expect(error.status).toBe(503);
    expect(error.headers?.get('x-should-retry')).toBe('true');
    expect(sent).toHaveLength(3);
    expect(brainCallsFor('test-throttle') - before).toBe(3);
  }, 20_000);
});

// The same rule on the other wire formats (SPEC §3d, §3e): Anthropic's SDK obeys
// x-should-retry as OpenAI's does, so neither route lets an SDK's own retry pay twice.
describe('x-should-retry on /v1/messages and /v1/responses, the SDKs at their default retries', () => {
  it.each([
    ['test-error', 502],
    ['test-timeout', 504],
  ])(
    'Anthropic SDK, reference/%s → %i: raised after one attempt, the brain invoked once',
    async (model, status) => {
      const made = anthropicClient(stack, await keyWith(`anthropic-${model}`), { sdkDefaultRetries: true });
      closers.push(made.close);
      const before = brainCallsFor(model);
      const error = await refusalOf(
        Anthropic.APIError,
        made.client.messages.create({ model: `reference/${model}`, max_tokens: 32, messages: HELLO }),
      );
      expect(error.status).toBe(status);
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(brainCallsFor(model) - before).toBe(1);
    },
  );

  it('Anthropic SDK, 503: true, and the SDK retries twice', async () => {
    const made = anthropicClient(stack, await keyWith('anthropic-throttle'), { sdkDefaultRetries: true });
    closers.push(made.close);
    const before = brainCallsFor('test-throttle');
    const error = await refusalOf(
      Anthropic.APIError,
      made.client.messages.create({ model: 'reference/test-throttle', max_tokens: 32, messages: HELLO }),
    );
    expect(error.status).toBe(503);
    expect(error.headers?.get('x-should-retry')).toBe('true');
    expect(brainCallsFor('test-throttle') - before).toBe(3);
  }, 20_000);

  it.each([
    ['test-error', 502],
    ['test-timeout', 504],
  ])(
    'openai responses.create, reference/%s → %i: sent once, the brain invoked once',
    async (model, status) => {
      const { client, sent } = sdk(await keyWith(`responses-${model}`));
      const before = brainCallsFor(model);
      const error = await refusal(client.responses.create({ model: `reference/${model}`, input: 'Hello' }));
      expect(error.status).toBe(status);
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(sent).toHaveLength(1);
      expect(brainCallsFor(model) - before).toBe(1);
    },
  );
});
