/**
 * The requests function's side of per-key limits and scopes (SPEC §3, §5; docs/decisions/0007):
 * a call the authorizer admitted over a limit is answered 429 right after authentication,
 * before 405/415/413/400 and without reading the body; the limit headers ride on every answer
 * to a key that has limits; a request outside the key's scopes is a 403. Through the real
 * handler and its middleware chain, with the AWS clients mocked.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../../shared/adapters/dynamodb/idempotency-store.js';
import { admissionContextOf, type LimitRefusal } from '../../../../shared/domain/keys/admission.js';
import type { LimitStatus } from '../../../../shared/domain/keys/limits.js';
import type { Admission } from '../../../../shared/domain/keys/verify.js';
import { idempotencyFingerprint } from '../../../../shared/domain/requests/process.js';
import type { RequestFields } from '../../../../shared/domain/requests/schema.js';
import { type ProxyEventOptions, proxyEvent } from '../../../support/events.js';
import { detailPaths, type ParsedAnswer, parseAnswer } from '../../../support/http.js';
import { lambdaContext } from '../../../support/lambda.js';
import { requestsHandlerUnderTest } from '../../../support/requests-handler.js';

const { lambdaMock, dynamoMock, handler } = requestsHandlerUnderTest({ dynamoSucceeds: true });

const VALID: RequestFields = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  prompt: 'Say hello.',
};

const BOTH_LIMITS: LimitStatus = {
  rate: { limit: 10, remaining: 7, resetSeconds: 30 },
  quota: { limit: 1000, remaining: 400, resetSeconds: 86_000 },
};

const EXPECTED_BOTH = {
  'RateLimit-Limit': '10',
  'RateLimit-Remaining': '7',
  'RateLimit-Reset': '30',
  'X-Quota-Limit': '1000',
  'X-Quota-Remaining': '400',
  'X-Quota-Reset': '86000',
};

const LIMIT_HEADER_NAMES = Object.keys(EXPECTED_BOTH);

/** What the requests function receives from the authorizer: its encoding, stringified by API Gateway. */
function contextFor(admission: Partial<Admission> = {}, refusal?: LimitRefusal): Record<string, unknown> {
  const full: Admission = {
    userId: 'user-1',
    keyId: 'key_abc123',
    projectId: 'proj-key',
    projectBound: false,
    limits: {},
    ...admission,
  };
  return { ...admissionContextOf(full, refusal), principalId: full.userId, integrationLatency: 3 };
}

async function send(
  options: ProxyEventOptions & { json?: unknown } = {},
): Promise<ParsedAnswer & { bodyReads: number }> {
  const { json, ...rest } = options;
  const event = proxyEvent({ body: JSON.stringify(json ?? VALID), ...rest });
  // Count every read of the body, to prove a refused call never looks at it.
  let bodyReads = 0;
  let body: unknown = event.body;
  Object.defineProperty(event, 'body', {
    get: () => {
      bodyReads += 1;
      return body;
    },
    set: (parsed: unknown) => {
      body = parsed;
    },
    enumerable: true,
  });
  const result = await handler(event, lambdaContext());
  return {
    ...parseAnswer(result, result.statusCode === 200 ? undefined : event.requestContext.requestId),
    bodyReads,
  };
}

const limitHeadersIn = (answer: ParsedAnswer) =>
  Object.fromEntries(Object.entries(answer.headers).filter(([name]) => LIMIT_HEADER_NAMES.includes(name)));

describe('a call over a key limit', () => {
  const rateLimited = contextFor(
    { limits: { rate: { limit: 3, remaining: 0, resetSeconds: 42 } } },
    { reason: 'rate_limited', retryAfterSeconds: 42 },
  );
  const oversized = JSON.stringify({ ...VALID, prompt: 'x'.repeat(1024 * 1024) });

  it('is answered 429 rate_limited with Retry-After and the limit headers, before anything else', async () => {
    const answer = await send({ authorizer: rateLimited });

    expect(answer.status).toBe(429);
    expect(answer.error).toEqual({
      code: 'rate_limited',
      type: 'rate_limit_error',
      message: expect.stringMatching(/retry in 42 seconds/),
    });
    expect(answer.headers['Retry-After']).toBe('42');
    expect(limitHeadersIn(answer)).toEqual({
      'RateLimit-Limit': '3',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '42',
    });
    expect(answer.bodyReads).toBe(0);
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it.each([
    ['GET', { method: 'GET' }],
    ['a wrong content type', { headers: { 'Content-Type': 'text/plain' } }],
    ['no content type', { headers: null }],
    ['a body over 1 MB', { body: oversized }],
    ['a body that is not JSON', { body: '{not json' }],
    ['no body', { body: null }],
    ['an invalid body', { body: JSON.stringify({ provider: 'Not A Slug', nope: 1 }) }],
    [
      'an Idempotency-Key over 255 chars',
      { headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k'.repeat(256) } },
    ],
  ] as const)('is still 429 with %s, and never reads the body', async (_case, options) => {
    const answer = await send({ authorizer: rateLimited, ...(options as ProxyEventOptions) });

    expect(answer.status).toBe(429);
    expect(answer.error?.code).toBe('rate_limited');
    expect(answer.headers['Retry-After']).toBe('42');
    expect(answer.bodyReads).toBe(0);
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('property: whatever the method, media type and body, a limited call is a 429 (auth still first)', async () => {
    const shapes = fc.record({
      authorized: fc.boolean(),
      method: fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      contentType: fc.constantFrom('application/json', 'text/plain', undefined),
      body: fc.constantFrom(JSON.stringify(VALID), '{bad', oversized, JSON.stringify({ nope: 1 }), null),
    });
    await fc.assert(
      fc.asyncProperty(shapes, async (shape) => {
        const answer = await send({
          method: shape.method,
          headers: shape.contentType ? { 'Content-Type': shape.contentType } : null,
          body: shape.body,
          authorizer: shape.authorized ? rateLimited : null,
        });
        expect(answer.status).toBe(shape.authorized ? 429 : 401);
        expect(answer.bodyReads).toBe(0);
      }),
      { numRuns: 60 },
    );
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('answers a spent total quota 429 quota_exceeded without Retry-After: waiting does not help', async () => {
    const answer = await send({
      authorizer: contextFor(
        { limits: { quota: { limit: 100, remaining: 0 } } },
        { reason: 'quota_exceeded' },
      ),
    });

    expect(answer.status).toBe(429);
    expect(answer.error?.code).toBe('quota_exceeded');
    expect(answer.error?.message).toMatch(/waiting will not help/);
    expect(answer.headers['Retry-After']).toBeUndefined();
    expect(limitHeadersIn(answer)).toEqual({ 'X-Quota-Limit': '100', 'X-Quota-Remaining': '0' });
  });

  it('answers a spent monthly quota 429 quota_exceeded with Retry-After until the next period', async () => {
    const answer = await send({
      authorizer: contextFor(
        {
          limits: {
            rate: { limit: 5, remaining: 4, resetSeconds: 10 },
            quota: { limit: 100, remaining: 0, resetSeconds: 90_000 },
          },
        },
        { reason: 'quota_exceeded', retryAfterSeconds: 90_000 },
      ),
    });

    expect(answer.status).toBe(429);
    expect(answer.error?.code).toBe('quota_exceeded');
    expect(answer.error?.message).toMatch(/retry in 90000 seconds/);
    expect(answer.headers['Retry-After']).toBe('90000');
    expect(limitHeadersIn(answer)).toEqual({
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '4',
      'RateLimit-Reset': '10',
      'X-Quota-Limit': '100',
      'X-Quota-Remaining': '0',
      'X-Quota-Reset': '90000',
    });
  });
});

describe('limit headers on every answer to a key with limits', () => {
  const limited = contextFor({ limits: BOTH_LIMITS });

  it('200', async () => {
    const answer = await send({ authorizer: limited });

    expect(answer.status).toBe(200);
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
  });

  it.each([
    ['400 invalid_request', 400, { json: { ...VALID, nope: 1 } }],
    ['400 invalid_json', 400, { body: '{bad' }],
    ['405', 405, { method: 'GET' }],
    ['413', 413, { body: JSON.stringify({ ...VALID, prompt: 'x'.repeat(1024 * 1024) }) }],
    ['415', 415, { headers: { 'Content-Type': 'text/plain' } }],
  ] as const)('%s', async (_case, status, options) => {
    const answer = await send({ authorizer: limited, ...(options as ProxyEventOptions) });

    expect(answer.status).toBe(status);
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
    expect(answer.headers['Retry-After']).toBeUndefined();
  });

  it('403 forbidden', async () => {
    const answer = await send({
      authorizer: contextFor({ limits: BOTH_LIMITS, scopes: { providers: ['anthropic'] } }),
    });

    expect(answer.status).toBe(403);
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
  });

  it('409 idempotency_conflict', async () => {
    dynamoMock.on(PutCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        Item: marshall({ id: 'x', body_hash: 'another body', status: 'completed', expires_at_epoch: 1 }),
      }),
    );

    const answer = await send({
      authorizer: limited,
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
    });

    expect(answer.status).toBe(409);
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
  });

  it('a replay, with this call’s limits', async () => {
    const stored = {
      success: true,
      decision: { decision_id: 'd', outcome: 'approved', reasoning: 'ok', confidence: 1 },
      response: null,
      payment: null,
      message: 'ok',
      request_id: 'req-original',
    };
    dynamoMock.on(PutCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        Item: marshall({
          id: 'x',
          body_hash: createHash('sha256')
            .update(
              canonicalJson(idempotencyFingerprint({ keyId: 'key_abc123', projectId: 'proj-key' }, VALID)),
              'utf8',
            )
            .digest('hex'),
          status: 'completed',
          expires_at_epoch: 1,
          answer: { statusCode: 200, body: JSON.stringify(stored), requestId: 'req-original' },
        }),
      }),
    );

    const answer = await send({
      authorizer: limited,
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
    });

    expect(answer.status).toBe(200);
    expect(answer.headers['Idempotent-Replayed']).toBe('true');
    expect(answer.body.request_id).toBe('req-original');
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it.each([
    ['502 from the brain', 502, () => lambdaMock.on(InvokeCommand).rejects(new Error('socket'))],
    ['500 from an unexpected failure', 500, () => dynamoMock.onAnyCommand().rejects(new Error('table'))],
  ])('%s', async (_case, status, arrange) => {
    arrange();

    const answer = await send({
      authorizer: limited,
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
    });

    expect(answer.status).toBe(status);
    expect(limitHeadersIn(answer)).toEqual(EXPECTED_BOTH);
  });

  it('only the limits the key has: a rate limit alone, or a total quota without X-Quota-Reset', async () => {
    const rateOnly = await send({
      authorizer: contextFor({ limits: { rate: { limit: 2, remaining: 1, resetSeconds: 5 } } }),
    });
    const totalOnly = await send({
      authorizer: contextFor({ limits: { quota: { limit: 9, remaining: 8 } } }),
    });

    expect(limitHeadersIn(rateOnly)).toEqual({
      'RateLimit-Limit': '2',
      'RateLimit-Remaining': '1',
      'RateLimit-Reset': '5',
    });
    expect(limitHeadersIn(totalOnly)).toEqual({ 'X-Quota-Limit': '9', 'X-Quota-Remaining': '8' });
  });

  it('none for a key without limits, nor on a 401 without an authorizer context', async () => {
    const unlimited = await send({ authorizer: contextFor() });
    const unlimitedError = await send({ authorizer: contextFor(), method: 'GET' });
    const unauthenticated = await send({ authorizer: null });

    expect(unlimited.status).toBe(200);
    expect(unlimitedError.status).toBe(405);
    expect(unauthenticated.status).toBe(401);
    for (const answer of [unlimited, unlimitedError, unauthenticated]) {
      expect(limitHeadersIn(answer)).toEqual({});
      expect(answer.headers['Retry-After']).toBeUndefined();
    }
  });
});

describe('scopes and project binding from the authorizer context', () => {
  it('answers 403 forbidden naming every field outside the grant, before the idempotency table or the brain', async () => {
    const answer = await send({
      authorizer: contextFor({
        projectId: 'proj-bound',
        projectBound: true,
        scopes: { providers: ['anthropic'], models: ['claude-*'], operations: ['embedding'] },
      }),
      json: { ...VALID, project_id: 'proj-other' },
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
    });

    expect(answer.status).toBe(403);
    expect(answer.error?.code).toBe('forbidden');
    expect((answer.error as { type?: string }).type).toBe('permission_error');
    expect(detailPaths(answer)).toEqual(['provider', 'model', 'operation_type', 'project_id']);
    expect(dynamoMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('checks the body first: an invalid body outside the scopes is a 400', async () => {
    const answer = await send({
      authorizer: contextFor({ scopes: { providers: ['anthropic'] } }),
      json: { ...VALID, nope: 1 },
    });

    expect(answer.status).toBe(400);
  });

  it('admits a request inside the grant, with the key’s project when the body names none', async () => {
    const answer = await send({
      authorizer: contextFor({
        projectId: 'proj-bound',
        projectBound: true,
        scopes: { providers: ['openai'], models: ['gpt-4o*'], operations: ['chat'] },
      }),
    });

    expect(answer.status).toBe(200);
    const payload = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input.Payload;
    const sent = JSON.parse(
      typeof payload === 'string' ? payload : new TextDecoder().decode(payload as Uint8Array),
    ) as { project_id: string };
    expect(sent.project_id).toBe('proj-bound');
  });
});
