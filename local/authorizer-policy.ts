/**
 * What API Gateway does with a Lambda authorizer's answer: check its shape (principalId,
 * policy, context of strings/numbers/booleans only), then evaluate the policy against the
 * method ARN — an explicit Deny wins, else an Allow that matches, else deny.
 */

export type AuthorizerContextValue = string | number | boolean;

export type AuthorizerVerdict =
  | { kind: 'allow'; principalId: string; context: Record<string, AuthorizerContextValue> }
  | { kind: 'deny'; principalId: string; context: Record<string, AuthorizerContextValue> }
  /** The answer is not a valid authorizer answer (API Gateway: 500 AuthorizerConfigurationException). */
  | { kind: 'invalid'; reason: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** IAM-style glob: `*` any run of characters (slashes included), `?` one character. */
export function arnMatches(pattern: string, arn: string): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(arn);
}

function actionMatches(action: unknown): boolean {
  return asList(action).some(
    (candidate) =>
      typeof candidate === 'string' && ['execute-api:Invoke', 'execute-api:*', '*'].includes(candidate),
  );
}

export function evaluateAuthorizerResult(result: unknown, methodArn: string): AuthorizerVerdict {
  if (!isObject(result)) return { kind: 'invalid', reason: 'the answer is not an object' };
  const { principalId, policyDocument, context } = result;
  if (typeof principalId !== 'string' || principalId === '') {
    return { kind: 'invalid', reason: 'principalId is missing' };
  }
  if (!isObject(policyDocument) || policyDocument.Statement === undefined) {
    return { kind: 'invalid', reason: 'policyDocument.Statement is missing' };
  }
  const checkedContext: Record<string, AuthorizerContextValue> = {};
  if (context !== undefined && context !== null) {
    if (!isObject(context)) return { kind: 'invalid', reason: 'context is not an object' };
    for (const [name, value] of Object.entries(context)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return { kind: 'invalid', reason: `context.${name} is not a string, number or boolean` };
      }
      checkedContext[name] = value;
    }
  }

  let allowed = false;
  for (const statement of asList(policyDocument.Statement)) {
    if (!isObject(statement)) return { kind: 'invalid', reason: 'a policy statement is not an object' };
    const { Effect, Action, Resource } = statement;
    if ((Effect !== 'Allow' && Effect !== 'Deny') || Action === undefined || Resource === undefined) {
      return { kind: 'invalid', reason: 'a policy statement lacks Effect, Action or Resource' };
    }
    if (!actionMatches(Action)) continue;
    const matches = asList(Resource).some(
      (resource) => typeof resource === 'string' && arnMatches(resource, methodArn),
    );
    if (!matches) continue;
    if (Effect === 'Deny') return { kind: 'deny', principalId, context: checkedContext };
    allowed = true;
  }
  return allowed
    ? { kind: 'allow', principalId, context: checkedContext }
    : { kind: 'deny', principalId, context: checkedContext };
}
