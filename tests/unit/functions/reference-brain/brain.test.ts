import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_COST_USD,
  DEFAULT_OUTPUT_TOKENS,
  estimateInputTokens,
  PRICE_TABLE,
  referenceBrain,
  referenceCatalogue,
  TooManyRequestsException,
} from '../../../../functions/reference-brain/brain.js';
import { invokeFunction } from '../../../../local/functions.js';
import { answerOfStreamText } from '../../../../shared/adapters/brain-client.js';
import {
  type BrainRequest,
  brainAnswerSchema,
  brainCatalogueSchema,
  brainDecisionAnswerSchema,
  brainFailureAnswerSchema,
} from '../../../../shared/domain/brain/contract.js';
import { MESSAGE_ROLES, OPERATION_TYPES } from '../../../../shared/domain/requests/schema.js';
import { brainRequest } from '../../../support/brain.js';

const decisionOf = async (request: BrainRequest) =>
  brainDecisionAnswerSchema.parse(await referenceBrain(request));

const allowedModels = Object.entries(PRICE_TABLE).flatMap(([provider, models]) =>
  Object.keys(models).map((model) => ({ provider, model })),
);

/** Arbitrary brain requests as the requests function builds them. */
const brainRequests = fc.record({
  request_id: fc.uuid(),
  user_id: fc.string({ minLength: 1, maxLength: 20 }),
  key_id: fc.constant('key_abc'),
  project_id: fc.string({ minLength: 1, maxLength: 20 }),
  agent_id: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  api_provider: fc.oneof(
    fc.constantFrom(...Object.keys(PRICE_TABLE)),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
  ),
  model_name: fc.oneof(
    fc.constantFrom(...allowedModels.map((entry) => entry.model)),
    fc.string({ minLength: 1, maxLength: 20 }).filter((model) => !model.startsWith('test-')),
  ),
  operation_type: fc.constantFrom(...OPERATION_TYPES),
  request_params: fc.record(
    {
      messages: fc.array(
        fc.record({ role: fc.constantFrom(...MESSAGE_ROLES), content: fc.string({ maxLength: 200 }) }),
        { minLength: 1, maxLength: 4 },
      ),
      prompt: fc.string({ minLength: 1, maxLength: 500 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      max_tokens: fc.integer({ min: 1, max: 200_000 }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    },
    { requiredKeys: [] },
  ),
  metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  request_source: fc.constant('api' as const),
});

describe('the reference brain', () => {
  it('approves an allowed model within the price table and the ceiling, with a simulated payment', async () => {
    const request = brainRequest({
      api_provider: 'openai',
      model_name: 'gpt-4o',
      request_params: { prompt: 'x'.repeat(400), max_tokens: 100 },
    });

    const answer = await decisionOf(request);

    // 400 chars ≈ 100 input tokens; gpt-4o costs 0.0025 / 0.01 USD per 1,000 input / output tokens.
    expect(estimateInputTokens(request)).toBe(100);
    expect(answer.success).toBe(true);
    expect(answer.decision.outcome).toBe('approved');
    expect(answer.payment).toMatchObject({
      estimated_amount: 0.00125,
      actual_amount: 0.00075,
      variance_amount: -0.0005,
      variance_percent: -40,
      currency: 'USD',
      simulated: true,
    });
    expect(answer.response).toMatchObject({ provider: 'openai', model: 'gpt-4o' });
  });

  it('uses the default output tokens when max_tokens is absent', async () => {
    const request = brainRequest({
      api_provider: 'anthropic',
      model_name: 'claude-haiku-4',
      request_params: { prompt: 'abcd' },
    });

    const answer = await decisionOf(request);

    const price = PRICE_TABLE.anthropic?.['claude-haiku-4'];
    expect(answer.payment?.estimated_amount).toBeCloseTo(
      ((price?.input ?? 0) * 1 + (price?.output ?? 0) * DEFAULT_OUTPUT_TOKENS) / 1000,
      6,
    );
  });

  it('rejects a model that is not on the allow-list, without a payment', async () => {
    const answer = await decisionOf(brainRequest({ api_provider: 'openai', model_name: 'gpt-unknown' }));

    expect(answer.success).toBe(false);
    expect(answer.decision).toMatchObject({ outcome: 'rejected', policy_violations: ['allow_list'] });
    expect(answer.payment).toBeNull();
    expect(answer.response).toBeNull();
  });

  it.each([
    ['openai', 'constructor'],
    ['openai', '__proto__'],
    ['anthropic', 'toString'],
    ['constructor', 'name'],
    ['__proto__', 'hasOwnProperty'],
  ])('rejects %s/%s as off the allow-list (object built-ins are not models)', async (provider, model) => {
    const answer = await decisionOf(brainRequest({ api_provider: provider, model_name: model }));

    expect(answer.decision).toMatchObject({ outcome: 'rejected', policy_violations: ['allow_list'] });
  });

  it('rejects a request whose estimated cost exceeds the per-request ceiling', async () => {
    const request = brainRequest({
      api_provider: 'anthropic',
      model_name: 'claude-opus-4',
      request_params: { prompt: 'hello', max_tokens: 100_000 },
    });

    const answer = await decisionOf(request);

    expect(answer.decision).toMatchObject({ outcome: 'rejected', policy_violations: ['cost_ceiling'] });
    expect(answer.decision.reasoning).toContain(String(DEFAULT_MAX_COST_USD));
  });

  it('honours a configured cost ceiling', async () => {
    const request = brainRequest({ request_params: { prompt: 'hello', max_tokens: 1000 } });

    const strict = brainDecisionAnswerSchema.parse(await referenceBrain(request, { maxCostUsd: 0.0000001 }));

    expect(strict.decision.outcome).toBe('rejected');
  });

  it('answers the same request with the same answer every time', async () => {
    const request = brainRequest();

    expect(await referenceBrain(request)).toEqual(await referenceBrain(structuredClone(request)));
  });

  it('treats a repeated request_id as the same request: the same decision_id and payment_id (SPEC §4)', async () => {
    const first = await decisionOf(brainRequest({ request_id: 'req-repeated' }));
    const repeat = await decisionOf(brainRequest({ request_id: 'req-repeated' }));
    const other = await decisionOf(brainRequest({ request_id: 'req-other' }));

    expect(repeat.decision.decision_id).toBe(first.decision.decision_id);
    expect(repeat.payment?.payment_id).toBe(first.payment?.payment_id);
    expect(repeat.payment?.transaction_hash).toBe(first.payment?.transaction_hash);
    expect(other.decision.decision_id).not.toBe(first.decision.decision_id);
    expect(other.payment?.payment_id).not.toBe(first.payment?.payment_id);
  });

  it('answers a malformed brain request with a contract failure, not a throw', async () => {
    const answer = await referenceBrain({ request_id: 'x' });

    expect(brainFailureAnswerSchema.parse(answer)).toMatchObject({ success: false });
  });

  it('is deterministic and inside the shared zod schema for arbitrary requests', async () => {
    await fc.assert(
      fc.asyncProperty(brainRequests, async (request) => {
        const first = await referenceBrain(request);
        const second = await referenceBrain(structuredClone(request));

        expect(second).toEqual(first);
        const answer = brainDecisionAnswerSchema.parse(first);
        expect(answer.success).toBe(answer.decision.outcome === 'approved');
        if (answer.decision.outcome === 'approved') {
          const models = Object.hasOwn(PRICE_TABLE, request.api_provider)
            ? PRICE_TABLE[request.api_provider]
            : undefined;
          expect(models && Object.hasOwn(models, request.model_name)).toBe(true);
          expect(answer.payment?.simulated).toBe(true);
          expect(answer.payment?.estimated_amount).toBeLessThanOrEqual(DEFAULT_MAX_COST_USD);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the reference brain test models', () => {
  const testModel = (model_name: string) => brainRequest({ api_provider: 'reference', model_name });

  it.each([
    ['test-large', 2_000_000, undefined],
    ['test-large', 1000, 1000],
    ['test-incompressible', 1_000_000, 1_000_000],
  ])('%s approves with %i characters of content (max_tokens %s)', async (model, length, maxTokens) => {
    const request = brainRequest({
      api_provider: 'reference',
      model_name: model,
      request_params: { prompt: 'big', ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }) },
    });

    const answer = await decisionOf(request);

    expect(answer).toMatchObject({ success: true, decision: { outcome: 'approved' } });
    expect((answer.response as { content: string }).content).toHaveLength(length);
    expect(await decisionOf(structuredClone(request))).toEqual(answer);
  });

  it('test-large compresses well and test-incompressible does not', async () => {
    const sizeOf = async (model_name: string) => {
      const answer = await referenceBrain(
        brainRequest({
          api_provider: 'reference',
          model_name,
          request_params: { prompt: 'x', max_tokens: 500_000 },
        }),
      );
      const text = Buffer.from(JSON.stringify(answer));
      return { raw: text.length, compressed: gzipSync(text).length };
    };

    const large = await sizeOf('test-large');
    const noise = await sizeOf('test-incompressible');

    expect(large.compressed).toBeLessThan(large.raw / 50);
    expect(noise.compressed).toBeGreaterThan(noise.raw * 0.7);
  });

  it('test-reject rejects with a decision', async () => {
    const answer = await decisionOf(testModel('test-reject'));

    expect(answer).toMatchObject({ success: false, decision: { outcome: 'rejected' }, payment: null });
  });

  it('test-error answers a brain-side failure', async () => {
    const answer = await referenceBrain(testModel('test-error'));

    expect(brainFailureAnswerSchema.safeParse(answer).success).toBe(true);
    expect(brainDecisionAnswerSchema.safeParse(answer).success).toBe(false);
  });

  it('test-malformed answers outside the contract', async () => {
    expect(brainAnswerSchema.safeParse(await referenceBrain(testModel('test-malformed'))).success).toBe(
      false,
    );
  });

  it('test-timeout stalls for the configured time before answering', async () => {
    const started = Date.now();

    await referenceBrain(testModel('test-timeout'), { stallMs: 150 });

    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('test-throttle throws TooManyRequestsException, which Lambda reports as the error type', async () => {
    const thrown = await referenceBrain(testModel('test-throttle')).catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(TooManyRequestsException);
    expect((thrown as Error).name).toBe('TooManyRequestsException');
  });

  /** The handler run as Lambda runs a streaming function, Invoke'd plainly: the bytes it wrote. */
  async function invokeHandler(event: unknown, timeoutMs = 5_000) {
    const { handler } = await import('../../../../functions/reference-brain/handler.js');
    const outcome = await invokeFunction(
      { name: 'reference-brain', timeoutMs, handler: handler as never },
      event,
    );
    if (!outcome.ok) throw new Error(outcome.error.errorMessage);
    return new TextDecoder().decode(outcome.payload);
  }

  it('the Lambda handler stalls test-timeout until just before its own timeout', async () => {
    const started = Date.now();

    await invokeHandler(testModel('test-timeout'), 300);

    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
  });

  it('the Lambda handler streams an approved decision as NDJSON events that read as the plain answer', async () => {
    const text = await invokeHandler(brainRequest());
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });

    expect(lines[0]?.type).toBe('decision');
    expect(lines.at(-1)?.type).toBe('final');
    expect(lines.slice(1, -1).every((line) => line.type === 'delta')).toBe(true);
    const answer = brainDecisionAnswerSchema.parse(answerOfStreamText(text));
    expect(answer.decision.outcome).toBe('approved');
    expect(answer).toEqual(brainDecisionAnswerSchema.parse(await referenceBrain(brainRequest())));
  });

  it('the Lambda handler answers an answer without a decision (the catalogue) as one JSON payload', async () => {
    const text = await invokeHandler({ action: 'list_models' });
    expect(JSON.parse(text)).toEqual(referenceCatalogue());
  });
});

describe('the reference brain and the spend limit (SPEC §4, §5b)', () => {
  /** gpt-4o, ≈100 input tokens, 100 output tokens allowed: estimated 0.00125 USD, pays 0.00075. */
  const priced = (spendLimit?: number, overrides: Partial<BrainRequest> = {}) =>
    brainRequest({
      api_provider: 'openai',
      model_name: 'gpt-4o',
      request_params: { prompt: 'x'.repeat(400), max_tokens: 100 },
      ...(spendLimit === undefined ? {} : { spend_limit: { amount: spendLimit, currency: 'USD' } }),
      ...overrides,
    });

  it('rejects with policy spend_limit when the estimate exceeds it, paying nothing', async () => {
    const answer = await decisionOf(priced(0.001249));

    expect(answer.success).toBe(false);
    expect(answer.decision).toMatchObject({ outcome: 'rejected', policy_violations: ['spend_limit'] });
    expect(answer.decision.policies_checked).toContain('spend_limit');
    expect(answer.decision.reasoning).toContain('0.001249');
    expect(answer.payment).toBeNull();
  });

  it('approves an estimate exactly at the limit, and pays what it would without one', async () => {
    const atLimit = await decisionOf(priced(0.00125));
    const unlimited = await decisionOf(priced());

    expect(atLimit.decision).toMatchObject({ outcome: 'approved' });
    expect(atLimit.decision.policies_checked).toContain('spend_limit');
    expect(unlimited.decision.policies_checked).not.toContain('spend_limit');
    expect(atLimit.payment).toMatchObject({ actual_amount: 0.00075, currency: 'USD' });
    expect(atLimit.payment?.actual_amount).toBe(unlimited.payment?.actual_amount);
  });

  it('a spend limit of 0 lets only free models through', async () => {
    expect((await decisionOf(priced(0))).decision.policy_violations).toEqual(['spend_limit']);
    const free = await decisionOf(priced(0, { api_provider: 'ollama', model_name: 'llama3.1' }));
    expect(free.decision.outcome).toBe('approved');
    expect(free.payment?.actual_amount).toBe(0);
  });

  it('never pays above the spend limit, in micro-dollars as the ledger counts them', async () => {
    await fc.assert(
      fc.asyncProperty(brainRequests, fc.integer({ min: 0, max: 600_000 }), async (request, holdMicros) => {
        const spendLimit = holdMicros / 1_000_000;
        const answer = brainAnswerSchema.parse(
          await referenceBrain({ ...request, spend_limit: { amount: spendLimit, currency: 'USD' } }),
        );
        if (!('decision' in answer)) return;
        const payment = answer.payment;
        if (payment) {
          expect(payment.currency).toBe('USD');
          expect(payment.actual_amount).toBeLessThanOrEqual(spendLimit);
          expect(Math.round(payment.actual_amount * 1_000_000)).toBeLessThanOrEqual(holdMicros);
          expect(payment.estimated_amount).toBeLessThanOrEqual(spendLimit);
        }
        if (answer.decision.policy_violations?.includes('spend_limit')) {
          expect(payment).toBeNull();
          expect(answer.decision.outcome).toBe('rejected');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('test-overspend pays twice its spend limit (plus a micro-dollar): a brain breaking the contract', async () => {
    const answer = await decisionOf(
      brainRequest({
        api_provider: 'reference',
        model_name: 'test-overspend',
        spend_limit: { amount: 0.1, currency: 'USD' },
      }),
    );

    expect(answer.decision.outcome).toBe('approved');
    expect(answer.payment).toMatchObject({ actual_amount: 0.200001, currency: 'USD' });
  });

  it('test-foreign-currency pays in EUR, within the limit', async () => {
    const answer = await decisionOf(
      brainRequest({
        api_provider: 'reference',
        model_name: 'test-foreign-currency',
        spend_limit: { amount: 0.1, currency: 'USD' },
      }),
    );

    expect(answer.decision.outcome).toBe('approved');
    expect(answer.payment?.currency).toBe('EUR');
    expect(answer.payment?.actual_amount).toBeGreaterThan(0);
    expect(answer.payment?.actual_amount).toBeLessThanOrEqual(0.1);
  });

  it('the contract refuses a spend limit in another currency or below zero', async () => {
    for (const spend_limit of [
      { amount: 0.1, currency: 'EUR' },
      { amount: -0.1, currency: 'USD' },
    ]) {
      const answer = await referenceBrain({ ...priced(), spend_limit });
      expect(brainFailureAnswerSchema.parse(answer).error).toMatchObject({ code: 'invalid_request' });
    }
  });
});

describe('the reference brain catalogue (SPEC §4 v3)', () => {
  it('answers {"action":"list_models"} with every provider/model of its price table, inside the contract', async () => {
    const answer = brainCatalogueSchema.parse(await referenceBrain({ action: 'list_models' }));

    expect(answer.models).toEqual(allowedModels);
    expect(answer.models).toContainEqual({ provider: 'openai', model: 'gpt-4o-mini' });
  });

  it('keeps answering anything else as before: another action is a request outside the contract', async () => {
    const answer = await referenceBrain({ action: 'list_everything' });

    expect(brainFailureAnswerSchema.parse(answer).error).toMatchObject({ code: 'invalid_request' });
  });
});
