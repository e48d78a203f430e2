/**
 * The requests function decodes the authorizer context once per request: the guards (a limit
 * refusal), the edge (the caller's scopes and project binding) and the limit headers (after
 * the handler and after errors) share one decoded admission. Through the real handler and its
 * middleware chain, with the decoder wrapped in a spy that counts its calls.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import * as admissionModule from '../../../../shared/domain/keys/admission.js';
import { admissionContextOf, type LimitRefusal } from '../../../../shared/domain/keys/admission.js';
import type { Admission } from '../../../../shared/domain/keys/verify.js';
import { type ProxyEventOptions, proxyEvent } from '../../../support/events.js';
import { parseAnswer } from '../../../support/http.js';
import { lambdaContext } from '../../../support/lambda.js';
import { requestsHandlerUnderTest } from '../../../support/requests-handler.js';

vi.mock('../../../../shared/domain/keys/admission.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../../shared/domain/keys/admission.js')>();
  return { ...real, admissionFromContext: vi.fn(real.admissionFromContext) };
});

const decode = vi.mocked(admissionModule.admissionFromContext);

const { handler } = requestsHandlerUnderTest({ dynamoSucceeds: true });

const VALID = { provider: 'openai', model: 'gpt-4o-mini', operation_type: 'chat', prompt: 'Say hello.' };

function contextFor(admission: Partial<Admission> = {}, refusal?: LimitRefusal): Record<string, unknown> {
  const full: Admission = {
    userId: 'user-1',
    keyId: 'key_abc123',
    projectId: 'proj-key',
    projectBound: false,
    limits: { rate: { limit: 10, remaining: 7, resetSeconds: 30 } },
    ...admission,
  };
  return { ...admissionContextOf(full, refusal), principalId: full.userId, integrationLatency: 3 };
}

/** The decoder's calls whose context is this event's (another event's calls are not counted). */
const decodesOf = (event: APIGatewayProxyEvent) =>
  decode.mock.calls.filter(([context]) => context === event.requestContext.authorizer).length;

async function send(options: ProxyEventOptions) {
  const event = proxyEvent({ body: JSON.stringify(VALID), ...options });
  const result = await handler(event, lambdaContext());
  return {
    event,
    answer: parseAnswer(result, result.statusCode === 200 ? undefined : event.requestContext.requestId),
  };
}

beforeEach(() => {
  decode.mockClear();
});

describe('the authorizer context of a request', () => {
  it('is decoded once for an admitted call that reaches the brain and gets the limit headers', async () => {
    const { event, answer } = await send({ authorizer: contextFor() });

    expect(answer.status).toBe(200);
    expect(answer.headers['RateLimit-Limit']).toBe('10');
    expect(decodesOf(event)).toBe(1);
    expect(decode).toHaveBeenCalledTimes(1);
  });

  it('is decoded once for a call the guards refuse over a limit (429 with the limit headers)', async () => {
    const { event, answer } = await send({
      authorizer: contextFor({}, { reason: 'rate_limited', retryAfterSeconds: 5 }),
    });

    expect(answer.status).toBe(429);
    expect(answer.headers['Retry-After']).toBe('5');
    expect(answer.headers['RateLimit-Remaining']).toBe('7');
    expect(decodesOf(event)).toBe(1);
  });

  it('is decoded once when the edge applies its scopes (403 with the limit headers)', async () => {
    const { event, answer } = await send({
      authorizer: contextFor({ scopes: { providers: ['anthropic'] } }),
    });

    expect(answer.status).toBe(403);
    expect(answer.headers['RateLimit-Limit']).toBe('10');
    expect(decodesOf(event)).toBe(1);
  });

  it('is decoded once for a call refused after the guards decoded it (415)', async () => {
    const { event, answer } = await send({
      authorizer: contextFor(),
      headers: { 'Content-Type': 'text/plain' },
    });

    expect(answer.status).toBe(415);
    expect(answer.headers['RateLimit-Limit']).toBe('10');
    expect(decodesOf(event)).toBe(1);
  });

  it('is decoded afresh for each request: one request never sees another one’s admission', async () => {
    const first = await send({ authorizer: contextFor() });
    const second = await send({
      authorizer: contextFor({ limits: { rate: { limit: 3, remaining: 1, resetSeconds: 9 } } }),
    });

    expect(first.answer.headers['RateLimit-Limit']).toBe('10');
    expect(second.answer.headers['RateLimit-Limit']).toBe('3');
    expect(decodesOf(first.event)).toBe(1);
    expect(decodesOf(second.event)).toBe(1);
    expect(decode).toHaveBeenCalledTimes(2);
  });
});
