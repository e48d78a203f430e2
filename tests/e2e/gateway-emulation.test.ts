/**
 * The API Gateway emulation itself, with stand-in functions where the real ones cannot
 * misbehave on purpose: the events it builds (shaped after events captured from AWS), what
 * it does with each kind of authorizer answer, proxy-answer validation (cases modelled on
 * answers recorded against AWS), Lambda's synchronous payload limits, the integration timeout
 * and the gateway responses.
 */
import type { Server } from 'node:https';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_RESPONSES } from '../../infra/gateway-responses.js';
import { ROUTES, type Route } from '../../infra/routes.js';
import { type ApiGatewayOptions, createApiGateway } from '../../local/api-gateway.js';
import { arnMatches } from '../../local/authorizer-policy.js';
import { ensureCertificate, type LocalCertificate } from '../../local/cert.js';
import type { LambdaHandler, LocalFunction } from '../../local/functions.js';
import { renderGatewayResponse, validateProxyResult } from '../../local/gateway-responses.js';
import { SYNC_PAYLOAD_LIMIT_BYTES, SYNC_RESPONSE_LIMIT_BYTES } from '../../local/invoke-request.js';
import { TokenBucket } from '../../local/throttle.js';
import { DEFAULT_MESSAGES, errorEnvelope, openAiTypeOf } from '../../shared/errors.js';
import { callApi, expectEnvelope, type HttpsAnswer } from './support/https.js';

const API = {
  apiId: 'abcdef1234',
  stage: 'dev',
  accountId: '123456789012',
  region: 'us-east-1',
  deploymentId: 'dep123',
  domainName: 'localhost',
};
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/POST/api/v1/requests';

let certificate: LocalCertificate;
let server: Server | undefined;

beforeAll(async () => {
  certificate = await ensureCertificate();
});

afterEach(async () => {
  const current = server;
  server = undefined;
  if (current) {
    current.closeAllConnections();
    await new Promise((resolve) => current.close(resolve));
  }
});

const fn = (name: string, handler: LambdaHandler, timeoutMs = 3000): LocalFunction => ({
  name,
  timeoutMs,
  handler,
});

const allow = (context: Record<string, unknown> = { userId: 'u1', keyId: 'key_1', projectId: 'p1' }) =>
  fn('authorizer', () => ({
    principalId: 'user-1',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'execute-api:Invoke',
          Effect: 'Allow',
          Resource: 'arn:aws:execute-api:*:*:abcdef1234/dev/*/*',
        },
      ],
    },
    context,
  }));

const ok = fn('requests', (event) => ({
  statusCode: 200,
  headers: { 'X-Request-Id': (event as APIGatewayProxyEvent).requestContext.requestId },
  body: '{"ok":true}',
}));

/** Starts the emulated gateway with stand-in functions; calls go over HTTPS to it. */
/**
 * The route table with every integration buffered: these tests pin API Gateway's Lambda proxy
 * (buffered) semantics; STREAM integrations are tests/integration/local/gateway-streaming.test.ts.
 */
const BUFFERED_ROUTES: readonly Route[] = ROUTES.map(({ responseTransfer: _stream, ...route }) => route);

async function gateway(
  functions: ApiGatewayOptions['functions'],
  options: Partial<ApiGatewayOptions> = {},
): Promise<(call?: Parameters<typeof callApi>[1]) => Promise<HttpsAnswer>> {
  const started = createApiGateway({
    tls: { key: certificate.key, cert: certificate.cert },
    api: API,
    functions,
    throttle: false,
    routes: BUFFERED_ROUTES,
    ...options,
  });
  server = started;
  await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', () => resolve()));
  const address = started.address();
  const target = {
    apiUrl: `https://localhost:${typeof address === 'object' && address ? address.port : 0}`,
    caCertPem: certificate.cert,
  };
  return (call = {}) =>
    callApi(target, { headers: { 'Content-Type': 'application/json' }, body: '{}', ...call });
}

describe('events', () => {
  it('builds the REQUEST authorizer event as API Gateway does', async () => {
    let seen: APIGatewayRequestAuthorizerEvent | undefined;
    const call = await gateway({
      authorizer: fn('authorizer', async (event, context) => {
        seen = event as APIGatewayRequestAuthorizerEvent;
        return allow().handler(event, context);
      }),
      requests: ok,
    });

    const answer = await call({
      headers: {
        'Content-Type': 'application/json',
        'x-api-KEY': 'sk-abc',
        'X-Multi': ['one', 'two'],
      } as never,
    });

    expect(seen).toMatchObject({
      type: 'REQUEST',
      methodArn: METHOD_ARN,
      resource: '/api/v1/requests',
      path: '/api/v1/requests',
      httpMethod: 'POST',
      headers: { 'x-api-KEY': 'sk-abc', 'X-Multi': 'two', 'X-Forwarded-Proto': 'https' },
      multiValueHeaders: { 'x-api-KEY': ['sk-abc'], 'X-Multi': ['one', 'two'] },
      queryStringParameters: {},
      multiValueQueryStringParameters: {},
      pathParameters: {},
      stageVariables: {},
      requestContext: {
        stage: 'dev',
        apiId: 'abcdef1234',
        accountId: '123456789012',
        httpMethod: 'POST',
        resourcePath: '/api/v1/requests',
        requestId: answer.headers['x-amzn-requestid'],
        identity: { sourceIp: '127.0.0.1' },
      },
    });
    // Absent, as on AWS (the function receives JSON, where the typings' `authorizer: undefined` vanishes).
    expect(seen?.requestContext).not.toHaveProperty('authorizer');
  });

  it('builds the proxy event: null empty maps, text body, stringified authorizer context', async () => {
    let seen: APIGatewayProxyEvent | undefined;
    const call = await gateway({
      authorizer: allow({ userId: 'u1', keyId: 'key_1', count: 3, admin: false }),
      requests: fn('requests', (event, context) => {
        seen = event as APIGatewayProxyEvent;
        return ok.handler(event, context);
      }),
    });

    const answer = await call({ body: '{"hello":"wörld"}' });

    expect(seen).toMatchObject({
      resource: '/api/v1/requests',
      path: '/api/v1/requests',
      httpMethod: 'POST',
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: '{"hello":"wörld"}',
      isBase64Encoded: false,
      requestContext: {
        requestId: answer.headers['x-request-id'],
        stage: 'dev',
        authorizer: { userId: 'u1', keyId: 'key_1', count: '3', admin: 'false', principalId: 'user-1' },
      },
    });
    expect(typeof seen?.requestContext.authorizer?.integrationLatency).toBe('number');
  });

  it('passes query strings as last-value and multi-value maps', async () => {
    let seen: APIGatewayProxyEvent | undefined;
    const call = await gateway({
      authorizer: allow(),
      requests: fn('requests', (event, context) => {
        seen = event as APIGatewayProxyEvent;
        return ok.handler(event, context);
      }),
    });

    await call({ path: '/api/v1/requests?a=1&a=2&b=x' });

    expect(seen?.queryStringParameters).toEqual({ a: '2', b: 'x' });
    expect(seen?.multiValueQueryStringParameters).toEqual({ a: ['1', '2'], b: ['x'] });
  });
});

describe('authorizer answers', () => {
  it('renders a Deny as ACCESS_DENIED with the body from its context (the authorizer writes it per route)', async () => {
    // The authorizer event's request id is the API request's: the body it writes names it.
    let body = '';
    const call = await gateway({
      authorizer: fn('authorizer', (event) => {
        body = JSON.stringify({
          success: false,
          error: { code: 'unauthorized', type: 'authentication_error', message: 'API key has been revoked.' },
          request_id: (event as APIGatewayRequestAuthorizerEvent).requestContext.requestId,
        });
        return {
          principalId: 'anonymous',
          policyDocument: {
            Version: '2012-10-17',
            Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN }],
          },
          context: { reason: 'revoked', message: 'API key has been revoked.', body },
        };
      }),
      requests: ok,
    });

    const answer = await call();

    expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toBe('API key has been revoked.');
    expect(answer.text).toBe(body);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });

  it('denies when the Allow does not cover the method ARN', async () => {
    const call = await gateway({
      authorizer: fn('authorizer', () => ({
        principalId: 'user-1',
        policyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Action: 'execute-api:Invoke',
              Effect: 'Allow',
              Resource: `${METHOD_ARN.replace('POST', 'GET')}`,
            },
          ],
        },
        context: { message: 'Not for this method.' },
      })),
      requests: ok,
    });

    // Refused (fail closed) before the requests function; keygate's own authorizer always
    // allows exactly the method ARN it was asked about, so no body of its own is missing here.
    const answer = await call();
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(answer.headers['x-request-id']).toBeTruthy();
  });

  it('answers a thrown "Unauthorized" with the UNAUTHORIZED gateway response', async () => {
    const call = await gateway({
      authorizer: fn('authorizer', () => {
        throw new Error('Unauthorized');
      }),
      requests: ok,
    });

    expect(expectEnvelope(await call(), 401, 'unauthorized').error.message).toBe(
      DEFAULT_MESSAGES.unauthorized,
    );
  });

  it('answers any other authorizer failure with 500 (AUTHORIZER_FAILURE)', async () => {
    const call = await gateway({
      authorizer: fn('authorizer', () => {
        throw new Error('DynamoDB exploded');
      }),
      requests: ok,
    });

    const envelope = expectEnvelope(await call(), 500, 'internal_error');
    expect(envelope.error.message).not.toContain('DynamoDB');
  });

  it('answers a context value that is not a string, number or boolean with 500', async () => {
    const call = await gateway({
      authorizer: allow({ userId: 'u1', nested: { no: 'objects' } }),
      requests: ok,
    });

    expectEnvelope(await call(), 500, 'internal_error');
  });
});

describe('integration answers', () => {
  const answering = (result: unknown) => ({ authorizer: allow(), requests: fn('requests', () => result) });

  it.each([
    ['an unknown top-level key', { statusCode: 200, body: '{}', wrongValue: 'x' }],
    ['a non-numeric statusCode', { statusCode: 'test' }],
    ['a bare string', 'justAString'],
    ['multiValueHeaders that are not lists', { statusCode: 200, multiValueHeaders: { a: 'b' } }],
  ])('turns %s into a 502 in the envelope', async (_label, result) => {
    const call = await gateway(answering(result));

    expectEnvelope(await call(), 502, 'internal_error');
  });

  it('turns a thrown error into a 502 in the envelope, without its message', async () => {
    const call = await gateway({
      authorizer: allow(),
      requests: fn('requests', () => {
        throw new Error('secret internals');
      }),
    });

    const answer = await call();

    expectEnvelope(answer, 502, 'internal_error');
    expect(answer.text).not.toContain('secret');
  });

  it('answers INTEGRATION_TIMEOUT (504) when the integration outlives the limit', async () => {
    const call = await gateway(
      {
        authorizer: allow(),
        requests: fn(
          'requests',
          () => new Promise((resolve) => setTimeout(() => resolve({ statusCode: 200 }), 2000)),
        ),
      },
      { integrationTimeoutMs: 200 },
    );

    expectEnvelope(await call(), 504, 'brain_timeout');
  });

  it('passes a valid answer through: numeric-string status, merged headers, base64 body as its text', async () => {
    const call = await gateway(
      answering({
        statusCode: '201',
        headers: { 'test-multi': 'value-solo', 'X-Request-Id': 'r1' },
        multiValueHeaders: { 'test-multi': ['value-multi'] },
        body: Buffer.from('hello').toString('base64'),
        isBase64Encoded: true,
      }),
    );

    const answer = await call();

    expect(answer.status).toBe(201);
    expect(answer.headers['test-multi']).toBe('value-multi, value-solo');
    expect(answer.headers['content-type']).toBe('application/json');
    // No binaryMediaTypes on the API: AWS sends the base64 text as it is, undecoded.
    expect(answer.text).toBe('aGVsbG8=');
  });
});

describe("Lambda's synchronous payload limits", () => {
  /** The requests stand-in: counts its invocations and the byte size of each event it got. */
  const counting = () => {
    const seen: number[] = [];
    const requests = fn('requests', (event) => {
      seen.push(Buffer.byteLength(JSON.stringify(event)));
      return { statusCode: 200, body: '{"ok":true}' };
    });
    return { seen, requests };
  };
  const logged = () => {
    const lines: string[] = [];
    return { lines, log: (line: string) => lines.push(line) };
  };

  /**
   * The body of `quotes` `"` characters whose proxy event is `target` bytes: each `"` is two
   * bytes in the event (`\"`), so one probe gives the rest of the event's size.
   */
  async function quoteBodyFor(target: number): Promise<string> {
    const { seen, requests } = counting();
    const call = await gateway({ authorizer: allow(), requests });
    const probeQuotes = 3_000_000;
    await call({ body: '"'.repeat(probeQuotes) });
    const probeEvent = seen[0] ?? 0;
    expect(probeEvent).toBeGreaterThan(2 * probeQuotes);
    const current = server;
    server = undefined;
    current?.closeAllConnections();
    await new Promise((resolve) => current?.close(resolve));
    return '"'.repeat(probeQuotes + Math.floor((target - probeEvent) / 2));
  }

  it('answers 413 in the envelope, without invoking the function, when the event outgrows 6 MB though the body is 3.2 MB', async () => {
    const { seen, requests } = counting();
    const { lines, log } = logged();
    const call = await gateway({ authorizer: allow(), requests }, { log });
    // 3.2 MB of quotes: the body is far below both limits, its JSON string in the event is not.
    const body = '"'.repeat(3_200_000);

    const answer = await call({ body });

    expectEnvelope(answer, 413, 'payload_too_large');
    expect(seen).toEqual([]);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^integration requests: Execution failed: \d+ byte payload is too large for the RequestResponse invocation type \(limit 6291456 bytes\)$/,
      ),
    );
  });

  it('delivers a body of the same length without escapes: only the event size counts', async () => {
    const { seen, requests } = counting();
    const call = await gateway({ authorizer: allow(), requests });

    const answer = await call({ body: 'a'.repeat(3_200_000) });

    expect(answer.status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('answers 413 for a 7 MB body, between the Lambda and the gateway limits, without invoking the function', async () => {
    const { seen, requests } = counting();
    const call = await gateway({ authorizer: allow(), requests });

    expectEnvelope(await call({ body: 'a'.repeat(7 * 1024 * 1024) }), 413, 'payload_too_large');
    expect(seen).toEqual([]);
  });

  it('delivers an event just under 6,291,456 bytes and refuses one just over', async () => {
    // The event's size varies by a few bytes between calls (integrationLatency's digits).
    const under = await quoteBodyFor(SYNC_PAYLOAD_LIMIT_BYTES - 16);
    const over = await quoteBodyFor(SYNC_PAYLOAD_LIMIT_BYTES + 16);
    const { seen, requests } = counting();
    const call = await gateway({ authorizer: allow(), requests });

    const delivered = await call({ body: under });
    const refused = await call({ body: over });

    expect(delivered.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(SYNC_PAYLOAD_LIMIT_BYTES - 64);
    expect(seen[0]).toBeLessThanOrEqual(SYNC_PAYLOAD_LIMIT_BYTES);
    expectEnvelope(refused, 413, 'payload_too_large');
    expect(seen).toHaveLength(1);
  });

  /** A proxy answer whose JSON is exactly `bytes` long, its body made of quotes (2 bytes each in JSON). */
  const answerOf = (bytes: number) => {
    const room = bytes - Buffer.byteLength(JSON.stringify({ statusCode: 200, body: '' }));
    const body = '"'.repeat(Math.floor(room / 2)) + 'x'.repeat(room % 2);
    const result = { statusCode: 200, body };
    expect(Buffer.byteLength(JSON.stringify(result))).toBe(bytes);
    return result;
  };

  it('delivers an answer of exactly 6,291,556 bytes (100 above the request limit)', async () => {
    const result = answerOf(SYNC_RESPONSE_LIMIT_BYTES);
    const call = await gateway({ authorizer: allow(), requests: fn('requests', () => result) });

    const answer = await call();

    expect(answer.status).toBe(200);
    expect(answer.text).toBe(result.body);
  });

  it('answers 502 in the DEFAULT_5XX envelope for an answer one byte over, as Function.ResponseSizeTooLarge', async () => {
    const result = answerOf(SYNC_RESPONSE_LIMIT_BYTES + 1);
    const { lines, log } = logged();
    const call = await gateway({ authorizer: allow(), requests: fn('requests', () => result) }, { log });

    const answer = await call();

    expectEnvelope(answer, 502, 'internal_error');
    expect(answer.text.length).toBeLessThan(1000);
    expect(lines).toContain(
      'integration requests failed: Function.ResponseSizeTooLarge: Response payload size exceeded maximum allowed payload size (6291556 bytes).',
    );
  });

  it('answers 500 (AUTHORIZER_FAILURE) for an authorizer answer over the limit, without invoking the function', async () => {
    const { seen, requests } = counting();
    const call = await gateway({
      authorizer: allow({ userId: 'u1', pad: 'x'.repeat(SYNC_RESPONSE_LIMIT_BYTES) }),
      requests,
    });

    expectEnvelope(await call(), 500, 'internal_error');
    expect(seen).toEqual([]);
  });
});

describe('proxy answer validation', () => {
  // Modelled on API Gateway's answers recorded against AWS (localstack's validated snapshot).
  it.each([
    [{ statusCode: 200 }, 200],
    [{ statusCode: 200, headers: { 'header-bool': true } }, 200],
    [{ statusCode: 200, headers: null }, 200],
    [{ headers: { 'test-header': 'value' } }, 200],
    [{ statusCode: '201' }, 201],
    [{ statusCode: 200, body: 'aGk=', isBase64Encoded: true }, 200],
    [{ statusCode: 200, wrongValue: 'value' }, 'invalid'],
    [{ statusCode: 'test' }, 'invalid'],
    [{ statusCode: 200, multiValueHeaders: { 'test-multi-invalid': 'value1' } }, 'invalid'],
    ['justAString', 'invalid'],
    [null, 'invalid'],
  ])('%j → %s', (result, expected) => {
    const validated = validateProxyResult(result);

    expect(validated.ok ? validated.answer.statusCode : 'invalid').toBe(expected);
  });

  it('keeps a base64 body as its text: the API declares no binary media types', () => {
    const validated = validateProxyResult({ body: 'aGk=', isBase64Encoded: true });

    expect(validated.ok && validated.answer.body.toString('utf8')).toBe('aGk=');
  });

  it('stringifies header values and merges multi-value headers in either spelling', () => {
    const validated = validateProxyResult({
      statusCode: 200,
      multiValueHeaders: { 'tesT-Multi': ['value-multi'] },
      headers: { 'test-multi': 'value-solo', 'header-bool': true },
    });

    expect(validated.ok && validated.answer.headers).toEqual({
      'tesT-Multi': 'value-multi, value-solo',
      'header-bool': 'true',
      'Content-Type': 'application/json',
    });
  });
});

describe('gateway responses', () => {
  it.each(GATEWAY_RESPONSES.map((definition) => [definition.type, definition] as const))(
    '%s renders the envelope with the security headers and the request id',
    (_type, definition) => {
      const rendered = renderGatewayResponse(definition, {
        requestId: 'req-123',
        // A Deny's context: its message, and the whole body the authorizer wrote for the route.
        authorizer: {
          message: 'From the authorizer.',
          body: JSON.stringify(errorEnvelope('unauthorized', 'req-123', 'From the authorizer.')),
        },
      });

      expect(rendered.statusCode).toBe(definition.statusCode);
      expect(JSON.parse(rendered.body.toString('utf8'))).toEqual({
        success: false,
        error: {
          code: definition.code,
          type: openAiTypeOf(definition.code),
          message: definition.fromAuthorizer
            ? 'From the authorizer.'
            : (definition.message ?? DEFAULT_MESSAGES[definition.code]),
        },
        request_id: 'req-123',
      });
      expect(rendered.headers).toMatchObject({
        'Content-Type': 'application/json',
        'X-Request-Id': 'req-123',
        'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
        'Cache-Control': 'no-store',
      });
    },
  );
});

describe('policy and throttle primitives', () => {
  it('matches execute-api ARNs with IAM wildcards', () => {
    expect(arnMatches('arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*/*', METHOD_ARN)).toBe(
      true,
    );
    expect(arnMatches('arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*', METHOD_ARN)).toBe(
      false,
    );
    expect(arnMatches(METHOD_ARN.replace('POST', 'P?ST'), METHOD_ARN)).toBe(true);
  });

  it('lets a burst through, then one request per 1/rate seconds', () => {
    let now = 0;
    const bucket = new TokenBucket({ rateLimit: 2, burstLimit: 3 }, () => now);

    const burst = [bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()];
    now += 499;
    const early = bucket.tryTake();
    now += 1;
    const refilled = bucket.tryTake();

    expect(burst).toEqual([true, true, true, false]);
    expect([early, refilled]).toEqual([false, true]);
  });
});
