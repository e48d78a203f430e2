import { describe, expect, it } from 'vitest';
import { allowPolicy, denyPolicy, stageWildcardArn } from '../../../../functions/authorizer/policy.js';
import { admissionFromContext } from '../../../../shared/domain/keys/admission.js';

const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/api/v1/requests';

describe('stageWildcardArn', () => {
  it('grants every method and path of the method ARN’s API stage', () => {
    expect(stageWildcardArn(METHOD_ARN)).toBe(
      'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*',
    );
  });

  it('keeps an ARN it cannot parse as it is', () => {
    expect(stageWildcardArn('')).toBe('');
    expect(stageWildcardArn('not-an-arn')).toBe('not-an-arn');
  });
});

describe('policies', () => {
  it('puts the caller identity, grant and limits into the Allow context as strings', () => {
    const policy = allowPolicy(METHOD_ARN, {
      userId: 'u',
      keyId: 'key_1',
      projectId: 'p',
      projectBound: true,
      scopes: { models: ['gpt-4o*'] },
      limits: { rate: { limit: 10, remaining: 9, resetSeconds: 42 } },
    });

    expect(policy.principalId).toBe('u');
    expect(policy.context).toEqual({
      userId: 'u',
      keyId: 'key_1',
      projectId: 'p',
      projectBound: 'true',
      scopes: '{"models":["gpt-4o*"]}',
      limits: '{"rate":{"limit":10,"remaining":9,"resetSeconds":42}}',
      limited: '',
      retryAfter: '',
      budget: '',
    });
    expect(Object.values(policy.context ?? {}).every((value) => typeof value === 'string')).toBe(true);
    expect(policy.policyDocument.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'execute-api:Invoke',
    });
  });

  it('admits a call over a key limit with the refusal the requests function answers', () => {
    const policy = allowPolicy(
      METHOD_ARN,
      {
        userId: 'u',
        keyId: 'key_1',
        projectId: 'p',
        projectBound: false,
        limits: { quota: { limit: 5, remaining: 0 } },
      },
      { reason: 'quota_exceeded' },
    );

    expect(policy.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(policy.context).toMatchObject({ limited: 'quota_exceeded', retryAfter: '', scopes: '' });
  });

  it('carries the key budget to the requests function, and an unreadable one as a budget with nothing left', () => {
    const budget = { budgetId: 'bud_1', limit: 700_000, period: 'day' as const, hold: 100_000 };
    const policy = allowPolicy(METHOD_ARN, {
      userId: 'u',
      keyId: 'key_1',
      projectId: 'p',
      projectBound: false,
      limits: {},
      budget,
    });

    expect(policy.context?.budget).toBe('{"budgetId":"bud_1","limit":700000,"period":"day","hold":100000}');
    expect(admissionFromContext(policy.context ?? {}).budget).toEqual(budget);
    expect(admissionFromContext({ ...policy.context, budget: '' }).budget).toBeUndefined();
    // Fail closed: a budget present but garbled is never read as no budget.
    expect(admissionFromContext({ ...policy.context, budget: '{"budgetId":1}' }).budget).toEqual({
      budgetId: 'unreadable',
      limit: 0,
      period: 'total',
      hold: 0,
    });
  });

  const call = (methodArn: string, resource = '/api/v1/requests') => ({
    methodArn,
    resource,
    requestId: 'req-7',
  });

  it('denies exactly the method ARN, or everything when none was given', () => {
    expect(
      denyPolicy(call(METHOD_ARN), 'revoked', 'API key has been revoked.').policyDocument.Statement,
    ).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN }]);
    expect(denyPolicy(call(''), 'missing', 'm').policyDocument.Statement[0]).toMatchObject({ Resource: '*' });
  });

  it("carries the 401's whole body in the route's shape: keygate's envelope, Anthropic's on its routes", () => {
    expect(JSON.parse(String(denyPolicy(call(METHOD_ARN), 'revoked', 'Revoked.').context?.body))).toEqual({
      success: false,
      error: { code: 'unauthorized', type: 'authentication_error', message: 'Revoked.' },
      request_id: 'req-7',
    });
    for (const resource of ['/v1/messages', '/v1/messages/count_tokens']) {
      const body = denyPolicy(call(METHOD_ARN, resource), 'unknown', 'Say "who"?').context?.body;
      expect(JSON.parse(String(body))).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: 'Say "who"?' },
        request_id: 'req-7',
      });
    }
  });
});

describe('a Deny says whether a retry can help (x-should-retry through ACCESS_DENIED)', () => {
  it('true only when the key could not be verified right now', () => {
    const call = { methodArn: METHOD_ARN, resource: '/v1/chat/completions', requestId: undefined };
    expect(denyPolicy(call, 'unavailable', 'm').context).toMatchObject({ shouldRetry: 'true' });
    for (const reason of ['missing', 'malformed', 'unknown', 'revoked', 'expired', 'suspended'] as const) {
      expect(denyPolicy(call, reason, 'm').context).toMatchObject({ shouldRetry: 'false' });
    }
  });
});
