import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, hashKey } from '../../../shared/keys/format.js';
import { createLogger, redactSecrets } from '../../../shared/observability.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { authorizerEvent } from '../../support/events.js';
import { uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { captureOutput } from '../../support/logs.js';

let tables: TestTables;
let keysAdmin: (event: unknown, context?: Context) => Promise<unknown>;
let authorizer: (
  event: APIGatewayRequestAuthorizerEvent | null,
  context: Context,
) => Promise<APIGatewayAuthorizerResult>;

beforeAll(async () => {
  tables = await createTestTables('keys-logging');
  process.env.API_KEYS_TABLE = tables.names.apiKeys;
  process.env.USERS_TABLE = tables.names.users;
  process.env.DYNAMODB_ENDPOINT = tables.endpoint;
  // Every level, so nothing that only debug logging would print escapes the check.
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  ({ handler: keysAdmin } = await import('../../../functions/keys-admin/handler.js'));
  ({ handler: authorizer } = await import('../../../functions/authorizer/handler.js'));
});
afterAll(async () => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
  await tables.drop();
});

describe('logs of a whole key lifecycle', () => {
  it('never contain the plaintext key or its secret part across create, verify, revoke and refusal', async () => {
    const userId = uniqueUserId('logging');
    const logs = captureOutput();
    let apiKey = '';
    let results: APIGatewayAuthorizerResult[] = [];
    try {
      await keysAdmin({ action: 'create-user', userId }, lambdaContext());
      const created = (await keysAdmin({ action: 'create', userId }, lambdaContext())) as {
        apiKey: string;
        key: { keyId: string };
      };
      apiKey = created.apiKey;
      const allowed = await authorizer(
        authorizerEvent({ Authorization: `Bearer ${apiKey}` }),
        lambdaContext(),
      );
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
    expect(logs.jsonLines().length).toBeGreaterThanOrEqual(5);
    for (const key of apiKey.split(' ')) {
      expect(key).toMatch(/^sk-/);
      expect(output).not.toContain(key);
      expect(output).not.toContain(key.slice(7));
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
    const { key } = generateKey();

    const output = logged((logger) =>
      logger.info('oops', { apiKey: key, nested: { header: `Bearer ${key}` } }),
    );

    expect(output).not.toContain(key);
    expect(output).toContain(`${key.slice(0, 7)}…[redacted]`);
  });

  it('replaces a key inside the message and inside a logged error', () => {
    const { key } = generateKey();

    const output = logged((logger) => {
      logger.info(`request with ${key}`);
      logger.error('failed', new Error(`bad key ${key}`));
    });

    expect(output).not.toContain(key);
    expect(output.match(/…\[redacted\]/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('leaves ordinary text and key ids alone', () => {
    expect(redactSecrets('key_4fG7hJ sk-short user-1')).toBe('key_4fG7hJ sk-short user-1');
  });
});
