import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import { createLogger, redactSecrets } from '../../../../shared/adapters/observability/logger.js';
import { generateKey, hashKey } from '../../../../shared/domain/keys/format.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { authorizerEvent, integrationContextOf, proxyEvent } from '../../../support/events.js';
import { type InvokeServer, startInvokeServer } from '../../../support/invoke-server.js';
import { uniqueUserId } from '../../../support/keystore.js';
import { lambdaContext } from '../../../support/lambda.js';
import { captureOutput } from '../../../support/logs.js';

let tables: TestTables;
let brain: InvokeServer;
let requests: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
let keysAdmin: (event: unknown, context: Context) => Promise<unknown>;
let authorizer: (
  event: APIGatewayRequestAuthorizerEvent | null,
  context: Context,
) => Promise<APIGatewayAuthorizerResult>;

beforeAll(async () => {
  tables = await createTestTables('keys-logging');
  brain = await startInvokeServer({ 'reference-brain': (event) => referenceBrain(event) });
  process.env.API_KEYS_TABLE = tables.names.apiKeys;
  process.env.KEY_ENVIRONMENT = 'test';
  process.env.USERS_TABLE = tables.names.users;
  process.env.USER_KEYS_TABLE = tables.names.userKeys;
  process.env.BUDGETS_TABLE = tables.names.budgets;
  process.env.IDEMPOTENCY_TABLE = tables.names.idempotency;
  process.env.BUDGETS_TABLE = tables.names.budgets;
  process.env.DYNAMODB_ENDPOINT = tables.endpoint;
  process.env.LAMBDA_ENDPOINT = brain.endpoint;
  process.env.BRAIN_FUNCTION_NAME = 'reference-brain';
  // Every level, so nothing that only debug logging would print escapes the check.
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  ({ handler: keysAdmin } = await import('../../../../functions/keys-admin/handler.js'));
  ({ handler: authorizer } = await import('../../../../functions/authorizer/handler.js'));
  ({ answer: requests } = await import('../../../../functions/requests/handler.js'));
});
afterAll(async () => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
  await brain.close();
  await tables.drop();
});

describe('logs of a whole key lifecycle', () => {
  it('never contain the plaintext key or its secret part across create, verify, a request, revoke, refusal and rotation', async () => {
    const userId = uniqueUserId('logging');
    const logs = captureOutput();
    let apiKey = '';
    let results: APIGatewayAuthorizerResult[] = [];
    const statuses: number[] = [];
    try {
      await keysAdmin({ action: 'create-user', userId }, lambdaContext());
      const created = (await keysAdmin({ action: 'create', userId }, lambdaContext())) as {
        apiKey: string;
        key: { keyId: string };
      };
      apiKey = created.apiKey;
      const headers = { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' };
      const allowed = await authorizer(authorizerEvent(headers), lambdaContext());
      // API Gateway passes the Authorization header on to the integration: it must not be logged there either.
      const answered = await requests(
        proxyEvent({
          headers: { ...headers, 'Idempotency-Key': 'log-test' },
          body: JSON.stringify({
            provider: 'openai',
            model: 'gpt-4o',
            operation_type: 'chat',
            prompt: apiKey,
          }),
          authorizer: integrationContextOf(allowed),
        }),
        lambdaContext(),
      );
      statuses.push(answered.statusCode);
      await keysAdmin({ action: 'revoke', userId, keyId: created.key.keyId }, lambdaContext());
      const refused = await authorizer(authorizerEvent({ 'X-API-Key': apiKey }), lambdaContext());
      const rotated = (await keysAdmin({ action: 'rotate', userId }, lambdaContext())) as { apiKey: string };
      results = [allowed, refused];
      apiKey = `${apiKey} ${rotated.apiKey}`;
    } finally {
      logs.restore();
    }

    const output = logs.output();
    expect(results.map((result) => result.policyDocument.Statement[0]?.Effect)).toEqual(['Allow', 'Deny']);
    expect(statuses).toEqual([200]);
    expect(logs.jsonLines().length).toBeGreaterThanOrEqual(6);
    for (const key of apiKey.split(' ')) {
      expect(key).toMatch(/^kg_test_/);
      expect(output).not.toContain(key);
      expect(output).not.toContain(key.slice(12));
      expect(output).not.toContain(hashKey(key));
    }
  });
});

describe('the logger redaction', () => {
  function logged(write: (logger: ReturnType<typeof createLogger>) => void): string {
    const logs = captureOutput();
    try {
      write(createLogger('redaction-test'));
    } finally {
      logs.restore();
    }
    return logs.output();
  }

  it('replaces a key logged by mistake in an attribute, keeping only its display start', () => {
    const { key } = generateKey('test');

    const output = logged((logger) =>
      logger.info('oops', { apiKey: key, nested: { header: `Bearer ${key}` } }),
    );

    expect(output).not.toContain(key);
    expect(output).toContain(`${key.slice(0, 12)}…[redacted]`);
  });

  it('replaces a key inside the message and inside a logged error', () => {
    const { key } = generateKey('test');

    const output = logged((logger) => {
      logger.info(`request with ${key}`);
      logger.error('failed', new Error(`bad key ${key}`));
    });

    expect(output).not.toContain(key);
    expect(output.match(/…\[redacted\]/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('leaves ordinary text and key ids alone', () => {
    expect(redactSecrets('key_4fG7hJ kg_test_short user-1')).toBe('key_4fG7hJ kg_test_short user-1');
    // Another issuer's key is not ours to recognise (nor to mangle).
    expect(redactSecrets('sk-AbCdEfGhIjKlMnOpQrStUv')).toBe('sk-AbCdEfGhIjKlMnOpQrStUv');
  });
});
