/**
 * POST /v1/chat/completions (SPEC §3b) as OpenAI's own SDK sees it: the official `openai` npm
 * package, unchanged, with only its base URL pointed at the local stack over real HTTPS.
 * Completions, the SDK's typed errors (401, 403, 429, 400) read from our one envelope,
 * Idempotency-Key replays, and the keygate headers. The brain is the reference brain's own
 * logic with its invocations recorded, so the test shows what reached it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import type { LocalStack } from '../../local/stack.js';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';
import { generateKey } from '../../shared/domain/keys/format.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { callApi, expectEnvelope } from './support/https.js';
import { refusalOf } from './support/keyed-stack.js';
import { type OpenAiClientOptions, openaiClient, type SentRequest } from './support/openai.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
let apiKey: string;
let client: OpenAI;
const sent: SentRequest[] = [];
const brainRequests: BrainRequest[] = [];
const closers: Array<() => Promise<void>> = [];

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
  apiKey = await keyWith('sdk');
  client = sdk(apiKey, { sent });
});

afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
  admin?.close();
  await stack?.stop();
});

/** A new user and key through keys-admin `create`, with the limits and scopes it names. */
async function keyWith(label: string, grant: Record<string, unknown> = {}): Promise<string> {
  const userId = `${label}-${randomUUID().slice(0, 8)}`;
  await admin.expectOk({ action: 'create-user', userId });
  const created = await admin.expectOk({ action: 'create', userId, name: label, ...grant });
  if (!created.apiKey) throw new Error('keys-admin create answered without a key');
  return created.apiKey;
}

function sdk(key: string, options: OpenAiClientOptions = {}): OpenAI {
  const made = openaiClient(stack, key, options);
  closers.push(made.close);
  return made.client;
}

const HELLO = [{ role: 'user' as const, content: 'Hello from the OpenAI SDK' }];

/** The rejection a call ends in, typed as the SDK's APIError (fails the test if it succeeds). */
const refusal = (call: Promise<unknown>) => refusalOf(APIError, call);

interface SdkEnvelopeError {
  code: string;
  type: string;
  message: string;
  details?: Array<{ path: string; message: string }>;
}

const lastBrainRequest = () => brainRequests[brainRequests.length - 1];

describe('a completion', () => {
  it('answers a chat.completion with usage and the keygate extension, for a bare OpenAI model', async () => {
    const calls = brainRequests.length;
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });

    expect(brainRequests.length - calls).toBe(1);
    expect(lastBrainRequest()).toMatchObject({
      api_provider: 'openai',
      model_name: 'gpt-4o-mini',
      operation_type: 'chat',
      request_params: { messages: HELLO },
    });
    const requestId = lastBrainRequest()?.request_id;
    expect(completion).toMatchObject({
      id: `chatcmpl-${requestId}`,
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
    });
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]?.message.content).toContain('Reference brain answer for gpt-4o-mini');
    expect(Math.abs(completion.created - Date.now() / 1000)).toBeLessThan(60);
    const usage = completion.usage;
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
    // The keygate extension rides along; the SDK keeps fields it does not know.
    const { keygate } = completion as unknown as {
      keygate: { request_id: string; decision: { outcome: string }; payment: { simulated: boolean } };
    };
    expect(keygate).toMatchObject({
      request_id: requestId,
      decision: { outcome: 'approved' },
      payment: { simulated: true, currency: 'USD' },
    });
  });

  it.each([
    ['anthropic/claude-haiku-4', 'anthropic', 'claude-haiku-4'],
    ['ollama/llama3.1', 'ollama', 'llama3.1'],
    ['reference/reference', 'reference', 'reference'],
  ])('sends %s to the brain as that provider and model', async (model, provider, modelName) => {
    const completion = await client.chat.completions.create({ model, messages: HELLO });

    expect(lastBrainRequest()).toMatchObject({ api_provider: provider, model_name: modelName });
    expect(completion.model).toBe(model);
    expect(completion.choices[0]?.message.content).toContain(`Reference brain answer for ${modelName}`);
    expect((completion as unknown as { keygate: unknown }).keygate).toMatchObject({
      decision: { outcome: 'approved' },
    });
  });

  it('accepts content parts, the developer role, user and max_completion_tokens', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'developer', content: 'Answer briefly.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'First part.' },
            { type: 'text', text: 'Second part.' },
          ],
        },
      ],
      user: 'agent-sdk-7',
      max_completion_tokens: 40,
      temperature: 0.2,
    });

    expect(completion.object).toBe('chat.completion');
    expect(lastBrainRequest()).toMatchObject({
      agent_id: 'agent-sdk-7',
      operation_type: 'chat',
      request_params: {
        messages: [
          { role: 'system', content: 'Answer briefly.' },
          { role: 'user', content: 'First part.\nSecond part.' },
        ],
        max_tokens: 40,
        temperature: 0.2,
      },
    });
    // The reference brain uses half the allowed output tokens.
    expect(completion.usage?.completion_tokens).toBe(20);
  });

  it('passes Keygate-Project-Id and Keygate-Agent-Id on to the brain', async () => {
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: HELLO, user: 'loses-to-the-header' },
      { headers: { 'Keygate-Project-Id': 'proj-sdk', 'Keygate-Agent-Id': 'agent-header' } },
    );

    expect(lastBrainRequest()).toMatchObject({ project_id: 'proj-sdk', agent_id: 'agent-header' });
  });

  it("goes through with the SDK's own headers (User-Agent OpenAI/JS, X-Stainless-*)", async () => {
    const { data, response, request_id } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: HELLO })
      .withResponse();

    expect(response.status).toBe(200);
    expect(data.object).toBe('chat.completion');
    expect(request_id).toBe(response.headers.get('x-request-id'));
    expect(data.id).toBe(`chatcmpl-${request_id}`);
    const request = sent[sent.length - 1];
    expect(request).toMatchObject({ method: 'POST', url: `${stack.apiUrl}/v1/chat/completions` });
    const headers = request?.headers ?? {};
    expect(headers['user-agent']).toMatch(/^OpenAI\/JS \d+\.\d+\.\d+/);
    expect(headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-stainless-retry-count']).toBe('0');
    expect(Object.keys(headers).filter((name) => name.startsWith('x-stainless-')).length).toBeGreaterThan(3);
  });
});

describe('errors, as the SDK types them', () => {
  it.each([
    ['a key that was never issued', (out: SentRequest[]) => sdk(generateKey('test').key, { sent: out })],
    ['a key that is not ours', (out: SentRequest[]) => sdk('sk-proj-not-a-keygate-key', { sent: out })],
    [
      'no key at all',
      (out: SentRequest[]) => sdk('unused', { sent: out, defaultHeaders: { Authorization: null } }),
    ],
  ])('AuthenticationError (401) for %s', async (label, makeClient) => {
    const out: SentRequest[] = [];
    const error = await refusal(
      makeClient(out).chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }),
    );

    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.type).toBe('authentication_error');
    expect(error.code).toBe('unauthorized');
    expect(error.headers?.get('www-authenticate')).toBe('Bearer');
    expect(error.requestID).toMatch(/^[0-9a-f-]{36}$/);
    if (label === 'no key at all') {
      expect(out[0]?.headers.authorization).toBeUndefined();
      expect(error.message).toContain('Missing API key');
    }
  });

  it("PermissionDeniedError (403) with the brain's message for a decision other than approved", async () => {
    const calls = brainRequests.length;
    const error = await refusal(
      client.chat.completions.create({ model: 'reference/test-reject', messages: HELLO }),
    );

    expect(brainRequests.length - calls).toBe(1);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.status).toBe(403);
    expect(error.type).toBe('permission_error');
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('403 Rejected: test model test-reject always rejects');
  });

  it("PermissionDeniedError (403) naming model when the key's scopes exclude the provider", async () => {
    const scoped = sdk(await keyWith('scoped', { scopes: { providers: ['anthropic'] } }));
    const calls = brainRequests.length;

    const error = await refusal(scoped.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }));

    expect(brainRequests.length - calls).toBe(0);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.type).toBe('permission_error');
    const body = error.error as SdkEnvelopeError;
    expect(body.code).toBe('forbidden');
    expect(body.message).toContain('(model)');
    expect(body.details?.map((detail) => detail.path)).toEqual(['model']);
    // The same key may call what its scopes allow.
    const allowed = await scoped.chat.completions.create({
      model: 'anthropic/claude-haiku-4',
      messages: HELLO,
    });
    expect(allowed.object).toBe('chat.completion');
  });

  it('RateLimitError (429) with Retry-After once the key has used its rate limit', async () => {
    const limited = sdk(await keyWith('limited', { rateLimit: { limit: 1, windowSeconds: 3600 } }));
    // Windows are aligned to the epoch: do not straddle the end of one.
    const left = 3600 - (Math.floor(Date.now() / 1000) % 3600);
    if (left < 5) await sleep(left * 1000 + 500);

    await limited.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO });
    const calls = brainRequests.length;
    const error = await refusal(limited.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }));

    expect(brainRequests.length - calls).toBe(0);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.status).toBe(429);
    expect(error.type).toBe('rate_limit_error');
    expect(error.code).toBe('rate_limited');
    const retryAfter = error.headers?.get('retry-after');
    expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
    expect(Number(retryAfter)).toBeLessThanOrEqual(3600);
    expect(error.headers?.get('ratelimit-remaining')).toBe('0');
  });

  it('BadRequestError (400) naming the deprecated functions field, which keygate refuses (tools replace it)', async () => {
    const calls = brainRequests.length;
    const error = await refusal(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: HELLO,
        functions: [{ name: 'lookup', parameters: { type: 'object' } }],
      }),
    );

    expect(brainRequests.length - calls).toBe(0);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.type).toBe('invalid_request_error');
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain('functions');
    expect((error.error as SdkEnvelopeError).details?.map((detail) => detail.path)).toEqual(['functions']);
  });

  it('405 method_not_allowed in the envelope for GET with a valid key', async () => {
    const answer = await callApi(stack, {
      method: 'GET',
      path: '/v1/chat/completions',
      headers: { Authorization: `Bearer ${apiKey}` },
    });

    expectEnvelope(answer, 405, 'method_not_allowed');
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer, same id and request_id, without a second brain call', async () => {
    const body = { model: 'gpt-4o-mini', messages: HELLO };
    const options = { headers: { 'Idempotency-Key': `sdk-${randomUUID()}` } };
    const calls = brainRequests.length;

    const first = await client.chat.completions.create(body, options).withResponse();
    const second = await client.chat.completions.create(body, options).withResponse();
    const third = await client.chat.completions.create(body, options).asResponse();

    expect(brainRequests.length - calls).toBe(1);
    expect(first.response.headers.get('idempotent-replayed')).toBeNull();
    expect(second.response.headers.get('idempotent-replayed')).toBe('true');
    expect(third.headers.get('idempotent-replayed')).toBe('true');
    expect(second.data.id).toBe(first.data.id);
    expect(second.request_id).toBe(first.request_id);
    expect(second.data.choices).toEqual(first.data.choices);
    const keygateOf = (data: unknown) => (data as { keygate: { request_id: string } }).keygate;
    expect(keygateOf(second.data)).toEqual(keygateOf(first.data));
    expect(first.data.id).toBe(`chatcmpl-${keygateOf(first.data).request_id}`);
    expect(((await third.json()) as { id: string }).id).toBe(first.data.id);
  });

  it('ConflictError (409) for the same key with another body', async () => {
    const options = { headers: { 'Idempotency-Key': `sdk-${randomUUID()}` } };
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO }, options);

    const error = await refusal(
      client.chat.completions.create({ model: 'anthropic/claude-haiku-4', messages: HELLO }, options),
    );

    expect(error).toBeInstanceOf(OpenAI.ConflictError);
    expect(error.type).toBe('invalid_request_error');
    expect(error.code).toBe('idempotency_conflict');
  });
});
