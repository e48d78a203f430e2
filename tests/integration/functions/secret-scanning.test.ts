/**
 * The secret-scanning function as Lambda runs it (SPEC §3c), on DynamoDB Local: GitHub's
 * signed report in, `[{token_hash, token_type, label}]` out, a leaked key refused by the real
 * authorizer on its next request; every refusal (401/400/405) revokes nothing; no log line
 * carries a reported token. GitHub's keys are pairs generated here, given to the function
 * through SECRET_SCANNING_PUBLIC_KEYS as `npm start` does.
 */
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../../local/dynamodb.js';
import { generateKey, hashKey } from '../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../shared/domain/keys/model.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';
import { authorizerEvent, proxyEvent } from '../../support/events.js';
import { keySet, type SigningKey, signedHeaders, signingKey } from '../../support/github-signing.js';
import { type ParsedAnswer, parseAnswer } from '../../support/http.js';
import { expectOk, keyStoreFor, scanApiKeys, uniqueUserId } from '../../support/keystore.js';
import { lambdaContext } from '../../support/lambda.js';
import { captureOutput } from '../../support/logs.js';

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

const TOKEN_TYPE = 'keygate_api_key';
const URL = 'https://github.com/octo/leaky/blob/0123abc/config/.env';

/** GitHub's current key, and an older one it still publishes (reports in flight across a rotation). */
const github = signingKey();
const githubOld = signingKey(undefined, false);
/** A pair GitHub never published. */
const stranger = signingKey();

let tables: TestTables;
let scanning: Handler<APIGatewayProxyEvent, APIGatewayProxyResult>;
let authorizer: Handler<APIGatewayRequestAuthorizerEvent | null, APIGatewayAuthorizerResult>;

/** Everything the functions wrote while this file ran, and every token reported to them. */
const captured: string[] = [];
const reportedTokens = new Set<string>();

const ENV_NAMES = [
  'API_KEYS_TABLE',
  'KEY_ENVIRONMENT',
  'DYNAMODB_ENDPOINT',
  'SECRET_SCANNING_PUBLIC_KEYS',
  'POWERTOOLS_LOG_LEVEL',
  'ALARM_TOPIC_ARN',
] as const;
const savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));

beforeAll(async () => {
  tables = await createTestTables('secret-scanning');
  delete process.env.ALARM_TOPIC_ARN;
  Object.assign(process.env, {
    API_KEYS_TABLE: tables.names.apiKeys,
    KEY_ENVIRONMENT: 'test',
    DYNAMODB_ENDPOINT: tables.endpoint,
    SECRET_SCANNING_PUBLIC_KEYS: JSON.stringify(keySet(github, githubOld)),
    // Every level, so nothing that only debug logging would print escapes the log check.
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
  });
  ({ handler: scanning } = await import('../../../functions/secret-scanning/handler.js'));
  ({ handler: authorizer } = await import('../../../functions/authorizer/handler.js'));
});
afterAll(async () => {
  for (const name of ENV_NAMES) {
    const value = savedEnv[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await tables.drop();
});

/** Runs `work`, keeping what it wrote to stdout/stderr for the final log check. */
async function capturing<T>(work: () => Promise<T>): Promise<T> {
  const logs = captureOutput();
  try {
    return await work();
  } finally {
    logs.restore();
    captured.push(logs.output());
  }
}

function item(token: string, extra: Record<string, unknown> = {}) {
  reportedTokens.add(token);
  return { token, type: TOKEN_TYPE, url: URL, source: 'content', ...extra };
}

interface Sent {
  result: APIGatewayProxyResult;
  requestId: string;
}

async function post(
  body: string,
  headers: Record<string, string> | null,
  options: { method?: string; isBase64Encoded?: boolean; handler?: typeof scanning } = {},
): Promise<Sent> {
  const event = proxyEvent({
    method: options.method ?? 'POST',
    headers: headers === null ? null : { 'Content-Type': 'application/json', ...headers },
    body: options.isBase64Encoded ? Buffer.from(body, 'utf8').toString('base64') : body,
    isBase64Encoded: options.isBase64Encoded ?? false,
    authorizer: null,
  });
  const run = options.handler ?? scanning;
  const result = await capturing(() => run(event, lambdaContext()));
  return { result, requestId: event.requestContext.requestId };
}

/** POSTs `body` signed by `key` as GitHub would. */
function postSigned(body: string, key: SigningKey = github, options: Parameters<typeof post>[2] = {}) {
  return post(body, signedHeaders(body, key), options);
}

/** A 200 answer: the JSON array, with SPEC §3's headers. */
function labelsOf({ result, requestId }: Sent): { token_hash: string; token_type: string; label: string }[] {
  expect(result.statusCode, result.body).toBe(200);
  const headers = result.headers as Record<string, string>;
  expect(headers['Content-Type']).toBe('application/json');
  expect(headers['X-Request-Id']).toBe(requestId);
  expect(headers['Strict-Transport-Security']).toBe('max-age=31536000; includeSubDomains');
  expect(headers['Cache-Control']).toBe('no-store');
  const body = JSON.parse(result.body) as unknown;
  expect(Array.isArray(body)).toBe(true);
  return body as { token_hash: string; token_type: string; label: string }[];
}

/** An error answer in the envelope, with its code. */
function refusal({ result, requestId }: Sent, status: number, code: string): ParsedAnswer {
  expect(result.statusCode, result.body).toBe(status);
  const answer = parseAnswer(result, requestId);
  expect(answer.error?.code).toBe(code);
  return answer;
}

async function liveKey() {
  const store = keyStoreFor(tables);
  const userId = uniqueUserId('scan');
  expectOk(await store.service.createUser({ userId }));
  const created = expectOk(await store.service.createKey({ userId }));
  return { apiKey: created.apiKey, keyId: created.key.keyId, userId, hash: hashKey(created.apiKey) };
}

async function effectFor(apiKey: string): Promise<string | undefined> {
  const result = await capturing(() =>
    authorizer(authorizerEvent({ Authorization: `Bearer ${apiKey}` }), lambdaContext()),
  );
  return result.policyDocument.Statement[0]?.Effect;
}

async function itemOf(hash: string): Promise<ApiKeyItem | undefined> {
  return (await scanApiKeys(tables)).find((entry) => entry.key_hash === hash);
}

describe('a report signed by GitHub', () => {
  it('revokes a live key (refused by the authorizer on its next request) and answers its label', async () => {
    const key = await liveKey();
    const unknown = generateKey('test').key;
    expect(await effectFor(key.apiKey)).toBe('Allow');

    const body = JSON.stringify([item(key.apiKey), item(unknown, { type: 'other_type' }), item('garbage')]);
    const labels = labelsOf(await postSigned(body));

    expect(labels).toEqual([
      { token_hash: hashKey(key.apiKey), token_type: TOKEN_TYPE, label: 'true_positive' },
      { token_hash: hashKey(unknown), token_type: 'other_type', label: 'false_positive' },
      { token_hash: hashKey('garbage'), token_type: TOKEN_TYPE, label: 'false_positive' },
    ]);
    for (const entry of labels) expect(entry.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await effectFor(key.apiKey)).toBe('Deny');
    expect(await itemOf(key.hash)).toMatchObject({ status: 'revoked', revoked_reason: 'leaked' });
    expect(await itemOf(hashKey(unknown))).toBeUndefined();
  });

  it('a repeat is harmless: true_positive again, revocation unchanged', async () => {
    const key = await liveKey();
    const body = JSON.stringify([item(key.apiKey)]);
    const first = labelsOf(await postSigned(body));
    const revoked = await itemOf(key.hash);

    const again = labelsOf(await postSigned(body));

    expect(again).toEqual(first);
    expect(again[0]?.label).toBe('true_positive');
    expect(await itemOf(key.hash)).toEqual(revoked);
  });

  it('verifies with a published key that is no longer current, any header case, and a base64-encoded body', async () => {
    const key = await liveKey();
    const body = JSON.stringify([item(key.apiKey)]);
    const lowerCase = Object.fromEntries(
      Object.entries(signedHeaders(body, githubOld)).map(([name, value]) => [name.toLowerCase(), value]),
    );

    const labels = labelsOf(await post(body, lowerCase, { isBase64Encoded: true }));

    expect(labels[0]?.label).toBe('true_positive');
    expect(await effectFor(key.apiKey)).toBe('Deny');
  });

  it('answers [] to an empty report', async () => {
    expect(labelsOf(await postSigned('[]'))).toEqual([]);
  });

  it('answers 1,000 tokens in one report, in order', async () => {
    const tokens = Array.from({ length: 1000 }, (_, index) =>
      index % 2 === 0 ? generateKey('test').key : `not-a-key-${index}`,
    );
    const body = JSON.stringify(tokens.map((token, index) => item(token, { url: `${URL}#L${index}` })));

    const labels = labelsOf(await postSigned(body));

    expect(labels.map((entry) => entry.token_hash)).toEqual(tokens.map((token) => hashKey(token)));
    expect(new Set(labels.map((entry) => entry.label))).toEqual(new Set(['false_positive']));
  }, 60_000);
});

describe('refusals revoke nothing', () => {
  let victim: Awaited<ReturnType<typeof liveKey>>;
  let body: string;

  beforeAll(async () => {
    victim = await liveKey();
    body = JSON.stringify([item(victim.apiKey)]);
  });
  afterAll(async () => {
    // After every refusal below, the key still works and is untouched.
    expect(await effectFor(victim.apiKey)).toBe('Allow');
    expect((await itemOf(victim.hash))?.status).toBe('active');
    expect((await itemOf(victim.hash))?.revoked_reason).toBeUndefined();
  });

  it('missing or empty signature headers → 401', async () => {
    const signed = signedHeaders(body, github);
    const variants: (Record<string, string> | null)[] = [
      null,
      {},
      { 'Github-Public-Key-Identifier': github.identifier },
      { 'Github-Public-Key-Signature': signed['Github-Public-Key-Signature'] as string },
      { ...signed, 'Github-Public-Key-Signature': '' },
      { ...signed, 'Github-Public-Key-Identifier': '  ' },
    ];
    for (const headers of variants) {
      const answer = refusal(await post(body, headers), 401, 'unauthorized');
      expect(answer.headers['WWW-Authenticate']).toBe('Bearer');
    }
  });

  it('a signature made with another key pair under GitHub’s identifier → 401', async () => {
    const forger = signingKey(github.identifier);
    refusal(await postSigned(body, forger), 401, 'unauthorized');
  });

  it('a body changed after signing → 401', async () => {
    const headers = signedHeaders(body, github);
    refusal(await post(`${body} `, headers), 401, 'unauthorized');
    const other = JSON.stringify([item(victim.apiKey, { url: `${URL}?changed` })]);
    refusal(await post(other, headers), 401, 'unauthorized');
  });

  it('an unknown key identifier → 401', async () => {
    refusal(await postSigned(body, stranger), 401, 'unauthorized');
  });

  it('a signature that is not base64 DER → 401', async () => {
    for (const signature of ['not base64!', 'AAAA', 'A'.repeat(500)]) {
      const headers = {
        'Github-Public-Key-Identifier': github.identifier,
        'Github-Public-Key-Signature': signature,
      };
      refusal(await post(body, headers), 401, 'unauthorized');
    }
  });

  it('a signed body that is not the documented array → 400 in the envelope, never echoing a token', async () => {
    const { token: _token, ...withoutToken } = item(victim.apiKey);
    const notReports = [
      JSON.stringify(item(victim.apiKey)),
      JSON.stringify({ reports: [item(victim.apiKey)] }),
      JSON.stringify([item(victim.apiKey), withoutToken]),
      JSON.stringify([{ ...item(victim.apiKey), url: 42 }]),
      JSON.stringify(Array.from({ length: 1001 }, () => item(victim.apiKey))),
    ];
    for (const notReport of notReports) {
      const sent = await postSigned(notReport);
      refusal(sent, 400, 'invalid_request');
      expect(sent.result.body).not.toContain(victim.apiKey);
    }
    const missing = refusal(
      await postSigned(JSON.stringify([item(victim.apiKey), withoutToken])),
      400,
      'invalid_request',
    );
    expect(missing.error?.details?.map((detail) => detail.path)).toEqual(['1.token']);
  });

  it('signed invalid JSON → 400 invalid_json', async () => {
    refusal(await postSigned(`[${JSON.stringify(item(victim.apiKey))}`), 400, 'invalid_json');
  });

  it('GET (or any other method) → 405', async () => {
    const answer = refusal(await postSigned(body, github, { method: 'GET' }), 405, 'method_not_allowed');
    expect(answer.headers.Allow).toBe('POST');
    refusal(await postSigned(body, github, { method: 'PUT' }), 405, 'method_not_allowed');
  });
});

describe('when DynamoDB is unreachable', () => {
  it('a signed report answers 500 internal_error (GitHub retries) without hanging', async () => {
    process.env.DYNAMODB_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    vi.resetModules();
    const { handler: down } = await import('../../../functions/secret-scanning/handler.js');
    process.env.DYNAMODB_ENDPOINT = tables.endpoint;
    const started = Date.now();

    const sent = await postSigned(JSON.stringify([item(generateKey('test').key)]), github, { handler: down });

    refusal(sent, 500, 'internal_error');
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);
});

describe('the function’s logs', () => {
  it('never contain a reported token, its secret part or its hash, at every log level', () => {
    const output = captured.join('');
    const lines = output.split('\n').filter((line) => line.trim().startsWith('{'));
    // The checks below looked at something: refusals, audit lines and notices were logged.
    expect(output).toContain('secret-scanning report refused');
    expect(output).toContain('"message":"audit"');
    expect(output).toContain('leaked key notice');
    expect(lines.length).toBeGreaterThan(10);
    for (const token of reportedTokens) {
      if (token.length < 20) continue;
      expect(output.includes(token), 'a reported token was logged').toBe(false);
      expect(output.includes(token.slice(12)), 'the secret part of a reported token was logged').toBe(false);
      expect(output.includes(hashKey(token)), 'the hash of a reported token was logged').toBe(false);
    }
  });
});
