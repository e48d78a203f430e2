/**
 * Request processing against a key's scopes and project binding (SPEC §3, §5): after the body
 * is valid and before idempotency and the brain, a request outside the grant is a 403 whose
 * details name every field outside it. The ports are in-memory fakes that record their calls;
 * the brain is the reference brain's own logic.
 */
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import { type BrainRequest, brainDecisionAnswerSchema } from '../../../../shared/domain/brain/contract.js';
import type { KeyScopes } from '../../../../shared/domain/keys/model.js';
import { createRequestProcessor, type RequestInput } from '../../../../shared/domain/requests/process.js';
import type { CallerIdentity } from '../../../../shared/domain/requests/transform.js';
import { HttpError } from '../../../../shared/errors.js';
import { FakeIdempotencyStore } from '../../../support/fake-idempotency-store.js';

function processorWithFakes() {
  const idempotency = new FakeIdempotencyStore();
  const brainCalls: BrainRequest[] = [];
  const processor = createRequestProcessor({
    invokeBrain: async (request) => {
      brainCalls.push(request);
      return brainDecisionAnswerSchema.parse(await referenceBrain(request));
    },
    idempotency,
    brainLimits: { waitMs: 1000, maxDurationMs: 2000 },
    logger: { info: () => {}, error: () => {} },
    telemetry: { brainOutcome: () => {}, scopeRefused: () => {} },
  });
  return { processRequest: processor.api, processor, idempotency, brainCalls };
}

const UNSCOPED: CallerIdentity = {
  userId: 'user-1',
  keyId: 'key_abc123',
  projectId: 'proj-key',
  projectBound: false,
};

const BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Say hello.' }],
};

let sequence = 0;
function input(caller: CallerIdentity, body: unknown, idempotencyKey?: string): RequestInput {
  sequence += 1;
  return { caller, requestId: `req-${sequence}`, idempotencyKey, body };
}

/** The HttpError a call throws (the test fails if it answers). */
async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(HttpError);
  return outcome as HttpError;
}

describe('scopes', () => {
  it('refuses 403 forbidden naming every field outside the grant, each with what the key allows', async () => {
    const { processRequest, idempotency, brainCalls } = processorWithFakes();
    const caller: CallerIdentity = {
      ...UNSCOPED,
      projectId: 'proj-bound',
      projectBound: true,
      scopes: { providers: ['anthropic'], models: ['claude-3*'], operations: ['embedding'] },
    };

    const error = await refusal(
      processRequest(input(caller, { ...BODY, project_id: 'proj-other' }, 'idem-1')),
    );

    expect(error.code).toBe('forbidden');
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/provider, model, operation_type, project_id/);
    expect(error.details?.map((detail) => detail.path)).toEqual([
      'provider',
      'model',
      'operation_type',
      'project_id',
    ]);
    expect(error.details?.map((detail) => detail.message)).toEqual([
      expect.stringContaining('"anthropic"'),
      expect.stringContaining('"claude-3*"'),
      expect.stringContaining('"embedding"'),
      expect.stringContaining('"proj-bound"'),
    ]);
    expect(idempotency.calls).toEqual([]);
    expect(brainCalls).toEqual([]);
  });

  it.each<[string, KeyScopes, Record<string, string>]>([
    ['provider', { providers: ['anthropic', 'ollama'] }, {}],
    ['model', { models: ['gpt-4o'] }, { model: 'gpt-4o-mini' }],
    ['operation_type', { operations: ['chat', 'completion'] }, { operation_type: 'embedding' }],
  ])('names only %s when only it is outside the grant', async (field, scopes, change) => {
    const { processRequest, brainCalls } = processorWithFakes();

    const error = await refusal(processRequest(input({ ...UNSCOPED, scopes }, { ...BODY, ...change })));

    expect(error.code).toBe('forbidden');
    expect(error.details?.map((detail) => detail.path)).toEqual([field]);
    expect(brainCalls).toEqual([]);
  });

  it('matches a model entry ending in * as a prefix, any other entry exactly', async () => {
    const { processRequest } = processorWithFakes();
    const caller: CallerIdentity = { ...UNSCOPED, scopes: { models: ['gpt-4o*', 'claude-3-haiku'] } };
    const outcome = async (model: string) =>
      processRequest(input(caller, { ...BODY, model })).then(
        (answer) => answer.statusCode,
        (error: unknown) => (error instanceof HttpError ? error.status : 'crash'),
      );

    expect(await outcome('gpt-4o')).toBe(200);
    expect(await outcome('gpt-4o-mini')).toBe(200);
    expect(await outcome('claude-3-haiku')).toBe(200);
    expect(await outcome('gpt-4')).toBe(403);
    expect(await outcome('gpt-4-turbo')).toBe(403);
    expect(await outcome('claude-3-haiku-2')).toBe(403);
    expect(await outcome('GPT-4o-mini')).toBe(403);
  });

  it('allows everything when the key has no scopes, or lists that include the request', async () => {
    const { processRequest, brainCalls } = processorWithFakes();

    const unscoped = await processRequest(input(UNSCOPED, BODY));
    const inside = await processRequest(
      input(
        { ...UNSCOPED, scopes: { providers: ['openai'], models: ['gpt-4o-mini'], operations: ['chat'] } },
        BODY,
      ),
    );

    expect([unscoped.statusCode, inside.statusCode]).toEqual([200, 200]);
    expect(brainCalls).toHaveLength(2);
  });

  it('validates the body first: an invalid body outside the scopes is a 400, and a bad Idempotency-Key too', async () => {
    const { processRequest } = processorWithFakes();
    const caller: CallerIdentity = { ...UNSCOPED, scopes: { providers: ['anthropic'] } };

    const invalidBody = await refusal(processRequest(input(caller, { ...BODY, nope: 1 })));
    const badKey = await refusal(processRequest(input(caller, BODY, 'k'.repeat(256))));

    expect(invalidBody.code).toBe('invalid_request');
    expect(badKey.code).toBe('invalid_request');
  });
});

describe('project binding', () => {
  const bound: CallerIdentity = { ...UNSCOPED, projectId: 'proj-bound', projectBound: true };

  it('refuses another project_id on a bound key, naming only project_id', async () => {
    const { processRequest, brainCalls } = processorWithFakes();

    const error = await refusal(processRequest(input(bound, { ...BODY, project_id: 'proj-other' })));

    expect(error.code).toBe('forbidden');
    expect(error.details?.map((detail) => detail.path)).toEqual(['project_id']);
    expect(brainCalls).toEqual([]);
  });

  it('uses the bound project when the body names none, and accepts the body naming it', async () => {
    const { processRequest, brainCalls } = processorWithFakes();

    await processRequest(input(bound, BODY));
    await processRequest(input(bound, { ...BODY, project_id: 'proj-bound' }));

    expect(brainCalls.map((request) => request.project_id)).toEqual(['proj-bound', 'proj-bound']);
  });

  it('lets an unbound key send another project_id, which the brain receives', async () => {
    const { processRequest, brainCalls } = processorWithFakes();

    const answer = await processRequest(input(UNSCOPED, { ...BODY, project_id: 'proj-other' }));

    expect(answer.statusCode).toBe(200);
    expect(brainCalls.map((request) => request.project_id)).toEqual(['proj-other']);
  });
});

describe('a forbidden call never reaches idempotency or the brain', () => {
  it('leaves the Idempotency-Key unused: the same key with an allowed body is processed fresh', async () => {
    const { processRequest, idempotency, brainCalls } = processorWithFakes();
    const caller: CallerIdentity = { ...UNSCOPED, scopes: { models: ['gpt-4o*'] } };

    const refused = await refusal(processRequest(input(caller, { ...BODY, model: 'o1' }, 'idem-fix')));
    const fixed = input(caller, BODY, 'idem-fix');
    const answer = await processRequest(fixed);
    const repeat = await processRequest(input(caller, BODY, 'idem-fix'));

    expect(refused.code).toBe('forbidden');
    expect(answer).toMatchObject({ statusCode: 200, replayed: false, requestId: fixed.requestId });
    expect(repeat).toMatchObject({ statusCode: 200, replayed: true, requestId: fixed.requestId });
    expect(idempotency.calls).toEqual(['begin idem-fix', 'complete', 'begin idem-fix']);
    expect(brainCalls.map((request) => request.request_id)).toEqual([fixed.requestId]);
  });
});
