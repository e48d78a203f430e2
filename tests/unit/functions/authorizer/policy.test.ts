import { describe, expect, it } from 'vitest';
import { allowPolicy, denyPolicy, stageWildcardArn } from '../../../../functions/authorizer/policy.js';

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
  it('puts the caller identity into the Allow context as strings', () => {
    const policy = allowPolicy(METHOD_ARN, { userId: 'u', keyId: 'key_1', projectId: 'p' });

    expect(policy.principalId).toBe('u');
    expect(policy.context).toEqual({ userId: 'u', keyId: 'key_1', projectId: 'p' });
    expect(policy.policyDocument.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'execute-api:Invoke',
    });
  });

  it('denies exactly the method ARN, or everything when none was given', () => {
    expect(denyPolicy(METHOD_ARN, 'revoked', 'API key has been revoked.').policyDocument.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN },
    ]);
    expect(denyPolicy('', 'missing', 'm').policyDocument.Statement[0]).toMatchObject({ Resource: '*' });
  });
});
