/**
 * GET /v1/models (SPEC §3b, §4) as OpenAI's own SDK sees it over the local stack: the reference
 * brain's catalogue (`{"action": "list_models"}`, read once per container for 5 minutes),
 * filtered by the key's scopes; behind the authorizer like every route (counted, limited);
 * other methods 405; an unknown path's 404 names every route.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import { callApi, expectEnvelope, jsonHeaders } from './support/https.js';
import { useKeyedStack } from './support/keyed-stack.js';
import { openaiClient } from './support/openai.js';

let catalogueReads = 0;

const e2e = useKeyedStack({
  handlerOverrides: {
    'reference-brain': async (event) => {
      if ((event as { action?: unknown }).action === 'list_models') catalogueReads += 1;
      return referenceBrain(event);
    },
  },
});
const { keyWith } = e2e;

function sdk(apiKey: string): OpenAI {
  const made = openaiClient(e2e.stack, apiKey);
  e2e.closeWithStack(made.close);
  return made.client;
}

async function allModels(client: OpenAI) {
  const models = [];
  for await (const model of client.models.list()) models.push(model);
  return models;
}

describe('GET /v1/models', () => {
  it("lists the brain's catalogue as OpenAI models, ids provider/model, read once for many calls", async () => {
    const key = await keyWith('models');
    const client = sdk(key.apiKey);
    const models = await allModels(client);
    expect(models.length).toBeGreaterThan(1);
    for (const model of models) {
      expect(model).toEqual({
        id: expect.stringMatching(/^[a-z0-9][a-z0-9._-]*\/.+$/),
        object: 'model',
        created: expect.any(Number),
        owned_by: model.id.split('/')[0],
      });
    }
    expect(models.map((model) => model.id)).toContain('openai/gpt-4o-mini');
    // The listed ids are what the chat route takes.
    const first = models.find((model) => model.id === 'openai/gpt-4o-mini');
    const completion = await client.chat.completions.create({
      model: first?.id ?? '',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.object).toBe('chat.completion');

    const readsBefore = catalogueReads;
    await allModels(client);
    await allModels(client);
    expect(catalogueReads).toBe(readsBefore);
    expect(catalogueReads).toBe(1);
    // Every admitted call counts, the model list too (1 + the completion + 2).
    expect((await e2e.admin.getKey(key.userId, key.keyId)).usageCount).toBe(4);
  });

  it("keeps only what the key's scopes allow", async () => {
    const key = await keyWith('scoped', { scopes: { providers: ['openai'], models: ['gpt-4o*'] } });
    const ids = (await allModels(sdk(key.apiKey))).map((model) => model.id);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id).toMatch(/^openai\/gpt-4o/);
  });

  it('refuses as every route does: a bad key 401, a spent rate limit 429, another method 405 (Allow: GET)', async () => {
    const bad = await sdk('kg_test_notakeyatall')
      .models.list()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(bad).toBeInstanceOf(APIError);
    expect((bad as APIError).status).toBe(401);

    const limited = await keyWith('limited', { rateLimit: { limit: 1, windowSeconds: 60 } });
    const client = sdk(limited.apiKey);
    await allModels(client);
    const spent = await client.models.list().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((spent as APIError).status).toBe(429);

    const key = await keyWith('methods');
    const post = await callApi(e2e.stack, {
      method: 'POST',
      path: '/v1/models',
      headers: jsonHeaders(key.apiKey),
      body: '{}',
    });
    expectEnvelope(post, 405, 'method_not_allowed');
    expect(post.headers.allow).toBe('GET');
  });

  it('the 404 of an unknown path names every route', async () => {
    const key = await keyWith('lost');
    const answer = await callApi(e2e.stack, {
      method: 'GET',
      path: '/v1/model',
      headers: jsonHeaders(key.apiKey),
    });
    expectEnvelope(answer, 404, 'not_found');
    const message = (answer.json as { error: { message: string } }).error.message;
    for (const route of ['POST /api/v1/requests', 'POST /v1/chat/completions', 'GET /v1/models']) {
      expect(message).toContain(route);
    }
  });
});
