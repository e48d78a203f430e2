/**
 * A STREAM route of the local API Gateway: the function's prelude becomes the head, its body
 * reaches the client as it is written, failures before the prelude are gateway 502/504s, a
 * failure after it cuts the stream, and a client that leaves does not cut the invocation short.
 */

import type { Server } from 'node:https';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import middy from '@middy/core';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { denyPolicy } from '../../../functions/authorizer/policy.js';
import type { Route } from '../../../infra/routes.js';
import { type ApiGatewayOptions, createApiGateway } from '../../../local/api-gateway.js';
import { ensureCertificate, type LocalCertificate } from '../../../local/cert.js';
import { type LambdaHandler, type LocalFunction, streamingLambdaHandler } from '../../../local/functions.js';
import { HttpResponseStream, installAwsLambdaGlobal } from '../../../local/response-streaming.js';

const API = {
  apiId: 'abcdef1234',
  stage: 'dev',
  accountId: '123456789012',
  region: 'us-east-1',
  deploymentId: 'dep123',
  domainName: 'localhost',
};
const STREAM_PATH = '/v1/stream-test';
const ROUTES: readonly Route[] = [
  {
    path: STREAM_PATH,
    body: 'chat-completions',
    methods: ['POST'],
    handler: 'requests',
    authorized: true,
    responseTransfer: 'STREAM',
  },
];
const PAUSE_MS = 400;

let certificate: LocalCertificate;
let server: Server | undefined;

beforeAll(async () => {
  installAwsLambdaGlobal();
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

const fn = (name: string, handler: LambdaHandler, timeoutMs = 5000): LocalFunction => ({
  name,
  handler,
  timeoutMs,
});

const policy = (effect: 'Allow' | 'Deny') =>
  fn('authorizer', () => ({
    principalId: 'user-1',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'execute-api:Invoke',
          Effect: effect,
          Resource: 'arn:aws:execute-api:*:*:abcdef1234/dev/*/*',
        },
      ],
    },
    context: { keyId: 'key_1' },
  }));

interface Received {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  chunks: Array<{ at: number; text: string }>;
  /** The body ended cleanly (false: the connection was cut mid-stream). */
  complete: boolean;
}

async function gateway(requests: LocalFunction, options: Partial<ApiGatewayOptions> = {}) {
  const started = createApiGateway({
    tls: { key: certificate.key, cert: certificate.cert },
    api: API,
    functions: { authorizer: policy('Allow'), requests },
    throttle: false,
    routes: ROUTES,
    ...options,
  });
  server = started;
  await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', () => resolve()));
  const port = (started.address() as AddressInfo).port;

  /** Reads the answer chunk by chunk; `leaveAfterFirstChunk` hangs up once the first body bytes arrived. */
  return (leaveAfterFirstChunk = false) =>
    new Promise<Received>((resolve, reject) => {
      const startedAt = Date.now();
      const call = request(
        {
          host: 'localhost',
          port,
          path: STREAM_PATH,
          method: 'POST',
          ca: certificate.cert,
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer x' },
        },
        (response) => {
          const received: Received = {
            status: response.statusCode ?? 0,
            headers: response.headers,
            chunks: [],
            complete: false,
          };
          response.on('data', (chunk: Buffer) => {
            received.chunks.push({ at: Date.now() - startedAt, text: chunk.toString() });
            if (leaveAfterFirstChunk) {
              call.destroy();
              resolve(received);
            }
          });
          response.on('end', () => {
            received.complete = true;
            resolve(received);
          });
          response.on('error', () => resolve(received));
          response.on('aborted', () => resolve(received));
        },
      );
      call.on('error', (error) => (leaveAfterFirstChunk ? undefined : reject(error)));
      call.end('{}');
    });
}

const sse = (body: (stream: NodeJS.WritableStream) => Promise<void>) =>
  fn(
    'requests',
    streamingLambdaHandler(async (_event, responseStream) => {
      const stream = HttpResponseStream.from(responseStream, {
        statusCode: 200,
        headers: { 'Content-Type': 'text/event-stream' },
        cookies: ['session=1; Secure'],
      });
      await body(stream);
    }),
  );

describe('a STREAM route', () => {
  it('sends the prelude as the head and each write as it is written', async () => {
    const call = await gateway(
      sse(async (stream) => {
        stream.write('data: one\n\n');
        await sleep(PAUSE_MS);
        stream.write('data: two\n\n');
        stream.end();
      }),
    );

    const answer = await call();

    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/event-stream');
    expect(answer.headers['set-cookie']).toEqual(['session=1; Secure']);
    expect(answer.headers['content-length']).toBeUndefined();
    expect(answer.chunks.map((chunk) => chunk.text)).toEqual(['data: one\n\n', 'data: two\n\n']);
    const [first, second] = answer.chunks;
    expect(second?.at ?? 0).toBeGreaterThanOrEqual((first?.at ?? 0) + PAUSE_MS - 50);
    expect(answer.complete).toBe(true);
  });

  it('runs the authorizer first: a Deny is the gateway response, the function never runs', async () => {
    let invoked = false;
    const requests = sse(async (stream) => {
      invoked = true;
      stream.end('x');
    });
    // keygate's own Deny: the body it writes for the route is the gateway response's.
    const deny = fn('authorizer', (event) => {
      const { methodArn, resource, requestContext } = event as APIGatewayRequestAuthorizerEvent;
      return denyPolicy({ methodArn, resource, requestId: requestContext.requestId }, 'revoked', 'Revoked.');
    });
    const call = await gateway(requests, { functions: { authorizer: deny, requests } });

    const answer = await call();

    // ACCESS_DENIED, rendered in the envelope as the stack configures it (401, SPEC §7).
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.chunks.map((chunk) => chunk.text).join(''))).toMatchObject({
      success: false,
      error: { code: 'unauthorized', message: 'Revoked.' },
    });
    expect(invoked).toBe(false);
  });

  it('answers 502 when the function fails before its prelude', async () => {
    const call = await gateway(
      fn(
        'requests',
        streamingLambdaHandler(async () => {
          throw new Error('early');
        }),
      ),
    );

    const answer = await call();

    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.chunks.map((chunk) => chunk.text).join(''))).toMatchObject({ success: false });
  });

  it('answers 502 when the function streams without a prelude', async () => {
    const call = await gateway(
      fn(
        'requests',
        streamingLambdaHandler(async (_event, stream) => {
          stream.write('no prelude here');
          stream.end();
        }),
      ),
    );

    expect((await call()).status).toBe(502);
  });

  it('answers 504 when no prelude arrives within the integration timeout', async () => {
    const call = await gateway(
      sse(async (stream) => {
        await sleep(600);
        stream.end('late');
      }),
      { integrationTimeoutMs: 200 },
    );

    expect((await call()).status).toBe(504);
  });

  it('cuts the stream off when the function fails after its prelude', async () => {
    const call = await gateway(
      sse(async (stream) => {
        stream.write('data: one\n\n');
        await sleep(50);
        throw new Error('late failure');
      }),
    );

    const answer = await call();

    expect(answer.status).toBe(200);
    expect(answer.chunks.map((chunk) => chunk.text)).toEqual(['data: one\n\n']);
    expect(answer.complete).toBe(false);
  });

  it('lets the invocation finish its work after the client has gone', async () => {
    let finished: (value: string) => void = () => undefined;
    const settled = new Promise<string>((resolve) => {
      finished = resolve;
    });
    const call = await gateway(
      sse(async (stream) => {
        stream.write('data: one\n\n');
        await sleep(PAUSE_MS);
        stream.write('data: two\n\n');
        await sleep(50);
        stream.end();
        // The work that must happen after the answer (the requests function settles a budget here).
        finished('settled');
      }),
    );

    const answer = await call(true);

    expect(answer.chunks.map((chunk) => chunk.text)).toEqual(['data: one\n\n']);
    await expect(settled).resolves.toBe('settled');
  });

  it('serves a middy 6 handler with streamifyResponse unchanged', async () => {
    const handler = middy({ streamifyResponse: true }).handler(async () => ({
      statusCode: 201,
      headers: { 'Content-Type': 'text/plain' },
      body: 'made by middy',
    }));
    const call = await gateway(fn('requests', handler as unknown as LambdaHandler));

    const answer = await call();

    expect(answer.status).toBe(201);
    expect(answer.chunks.map((chunk) => chunk.text).join('')).toBe('made by middy');
  });
});
