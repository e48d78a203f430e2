/**
 * The local Lambda Invoke API speaks the real wire protocol (SPEC §8): the unchanged AWS SDK
 * client, the AWS CLI and raw HTTP all get what AWS Lambda would answer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { InvokeCommand, type LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalFunction } from '../../local/functions.js';
import {
  createInvokeServer,
  EVENT_PAYLOAD_LIMIT_BYTES,
  SYNC_PAYLOAD_LIMIT_BYTES,
  SYNC_RESPONSE_LIMIT_BYTES,
} from '../../local/lambda-server.js';
import type { LocalStack } from '../../local/stack.js';
import { createLambdaClient } from '../../shared/adapters/aws-clients.js';
import { startTestStack } from './support/stack.js';

const run = promisify(execFile);
const decode = (payload: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(payload)) as unknown;

let stack: LocalStack;
let lambda: LambdaClient;

beforeAll(async () => {
  stack = await startTestStack();
  lambda = createLambdaClient({ endpoint: stack.lambdaUrl });
});

afterAll(async () => {
  lambda?.destroy();
  await stack?.stop();
});

const invokeRaw = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.lambdaUrl}${path}`, { method: 'POST', ...init });

const KEYS_ADMIN_PATH = '/2015-03-31/functions/keys-admin/invocations';

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  json: unknown;
}

/**
 * A POST through `node:http`, which (unlike fetch) lets a test set Host and Origin. With
 * `chunked` the body goes out in 64 KB chunks without Content-Length.
 */
function postRaw(
  body: string,
  { headers = {}, chunked = false }: { headers?: OutgoingHttpHeaders; chunked?: boolean } = {},
): Promise<RawAnswer> {
  const target = new URL(stack.lambdaUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { hostname: target.hostname, port: target.port, path: KEYS_ADMIN_PATH, method: 'POST', headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            json: text === '' ? undefined : JSON.parse(text),
          });
        });
      },
    );
    outgoing.on('error', reject);
    if (!chunked) {
      outgoing.end(body);
      return;
    }
    const bytes = Buffer.from(body);
    for (let offset = 0; offset < bytes.length; offset += 65_536) {
      outgoing.write(bytes.subarray(offset, offset + 65_536));
    }
    outgoing.end();
  });
}

/** The event as JSON, padded with trailing whitespace (still valid JSON) to exactly `bytes` bytes. */
function paddedEvent(event: object, bytes: number): string {
  const json = JSON.stringify(event);
  if (json.length > bytes) throw new Error(`${json} is already over ${bytes} bytes`);
  return json + ' '.repeat(bytes - json.length);
}

/** create-user through the SDK: `ok: true` only if no earlier request created the user. */
async function createUser(userId: string): Promise<unknown> {
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: 'keys-admin',
      Payload: JSON.stringify({ action: 'create-user', userId }),
    }),
  );
  return decode(result.Payload);
}

describe('with the AWS SDK client (application/octet-stream)', () => {
  it('invokes keys-admin by name and returns its JSON answer', async () => {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: 'keys-admin',
        Payload: JSON.stringify({ action: 'create-user', userId: 'sdk-user' }),
      }),
    );

    expect(result.StatusCode).toBe(200);
    expect(result.FunctionError).toBeUndefined();
    expect(result.ExecutedVersion).toBe('$LATEST');
    expect(decode(result.Payload)).toMatchObject({
      ok: true,
      user: { userId: 'sdk-user', status: 'active' },
    });
  });

  it.each([
    'arn:aws:lambda:us-east-1:123456789012:function:keys-admin',
    '123456789012:function:keys-admin',
    'keys-admin:$LATEST',
  ])('accepts the function as %s', async (functionName) => {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: JSON.stringify({ action: 'list', userId: 'nobody' }),
      }),
    );

    expect(decode(result.Payload)).toMatchObject({ ok: true, keys: [] });
  });

  it('reports an unhandled error as a function error with errorType, errorMessage and trace', async () => {
    const brainRequest = {
      request_id: 'req-1',
      user_id: 'u1',
      key_id: 'key_1',
      project_id: 'default',
      agent_id: null,
      api_provider: 'reference',
      model_name: 'test-throttle',
      operation_type: 'chat',
      request_params: { prompt: 'hi' },
      metadata: {},
      request_source: 'api',
    };

    const result = await lambda.send(
      new InvokeCommand({ FunctionName: 'reference-brain', Payload: JSON.stringify(brainRequest) }),
    );

    expect(result.StatusCode).toBe(200);
    expect(result.FunctionError).toBe('Unhandled');
    expect(decode(result.Payload)).toMatchObject({
      errorType: 'TooManyRequestsException',
      errorMessage: expect.stringContaining('test-throttle'),
      trace: expect.arrayContaining([expect.stringContaining('TooManyRequestsException')]),
    });
  });

  it('throws ResourceNotFoundException for an unknown function', async () => {
    const failure = await lambda
      .send(new InvokeCommand({ FunctionName: 'no-such-function', Payload: '{}' }))
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ResourceNotFoundException);
    expect((failure as Error).message).toBe(
      'Function not found: arn:aws:lambda:us-east-1:123456789012:function:no-such-function',
    );
  });

  it('answers Event with 202 and DryRun with 204', async () => {
    const payload = JSON.stringify({ action: 'list', userId: 'nobody' });

    const event = await lambda.send(
      new InvokeCommand({ FunctionName: 'keys-admin', InvocationType: 'Event', Payload: payload }),
    );
    const dryRun = await lambda.send(
      new InvokeCommand({ FunctionName: 'keys-admin', InvocationType: 'DryRun', Payload: payload }),
    );

    expect(event.StatusCode).toBe(202);
    expect(dryRun.StatusCode).toBe(204);
  });
});

describe('on the wire', () => {
  it('accepts a payload without Content-Type (as the AWS CLI sends it)', async () => {
    const response = await invokeRaw('/2015-03-31/functions/keys-admin/invocations', {
      body: new TextEncoder().encode(JSON.stringify({ action: 'list', userId: 'nobody' })),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-amz-executed-version')).toBe('$LATEST');
    expect(await response.json()).toMatchObject({ ok: true });
  });

  it('answers an unknown function 404 ResourceNotFoundException in Lambda error shape', async () => {
    const response = await invokeRaw('/2015-03-31/functions/nope/invocations', { body: '{}' });

    expect(response.status).toBe(404);
    expect(response.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect(await response.json()).toEqual({
      Message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope',
      Type: 'User',
    });
  });

  it('answers a non-JSON payload 400 InvalidRequestContentException', async () => {
    const response = await invokeRaw('/2015-03-31/functions/keys-admin/invocations', { body: '{"action":' });

    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidRequestContentException');
    expect(await response.json()).toMatchObject({ Type: 'User', message: expect.stringContaining('json') });
  });

  it('serves only keys-admin and reference-brain (the API functions are not invokable)', async () => {
    const authorizer = await invokeRaw('/2015-03-31/functions/authorizer/invocations', { body: '{}' });
    const requests = await invokeRaw('/2015-03-31/functions/requests/invocations', { body: '{}' });

    expect([authorizer.status, requests.status]).toEqual([404, 404]);
  });
});

describe('refusing what a browser could send', () => {
  it('refuses a request with an Origin header with 403 AccessDeniedException and never runs the function', async () => {
    const answer = await postRaw(JSON.stringify({ action: 'create-user', userId: 'origin-user' }), {
      headers: { Origin: 'https://evil.example' },
    });

    expect(answer.status).toBe(403);
    expect(answer.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.json).toEqual({
      Message:
        'The local Invoke API refuses requests with an Origin header: a web page must not invoke local functions.',
      Type: 'User',
    });
    expect(await createUser('origin-user')).toMatchObject({ ok: true, user: { userId: 'origin-user' } });
  });

  it.each([
    'evil.example',
    'evil.example:3001',
    'localhost.evil.example',
    '127.0.0.1.nip.io',
    '0.0.0.0:3001',
  ])(
    'refuses Host %s (a DNS-rebound page) with 403 AccessDeniedException and never runs the function',
    async (host) => {
      const userId = `rebound@${host}`;

      const answer = await postRaw(JSON.stringify({ action: 'create-user', userId }), {
        headers: { Host: host },
      });

      expect(answer.status).toBe(403);
      expect(answer.headers['x-amzn-errortype']).toBe('AccessDeniedException');
      expect(answer.json).toEqual({
        Message: `The local Invoke API only answers requests with a loopback Host (127.0.0.1, localhost or [::1], any port): Host "${host}" is refused.`,
        Type: 'User',
      });
      expect(await createUser(userId)).toMatchObject({ ok: true });
    },
  );

  it.each(['localhost:PORT', '[::1]:PORT', 'LocalHost:PORT', '127.0.0.1', 'localhost'])(
    'answers a request with the loopback Host %s',
    async (host) => {
      const answer = await postRaw(JSON.stringify({ action: 'list', userId: 'nobody' }), {
        headers: { Host: host.replace('PORT', new URL(stack.lambdaUrl).port) },
      });

      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ ok: true, keys: [] });
    },
  );
});

describe('payload limits', () => {
  it('refuses a synchronous payload one byte over 6 MB with 413 RequestEntityTooLargeException and never runs the function', async () => {
    const body = paddedEvent(
      { action: 'create-user', userId: 'oversized-user' },
      SYNC_PAYLOAD_LIMIT_BYTES + 1,
    );

    const answer = await postRaw(body);

    expect(answer.status).toBe(413);
    expect(answer.headers['x-amzn-errortype']).toBe('RequestEntityTooLargeException');
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.json).toEqual({
      Message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
      Type: 'User',
    });
    expect(await createUser('oversized-user')).toMatchObject({ ok: true });
  });

  it('counts a payload sent without Content-Length as it streams in', async () => {
    const body = paddedEvent(
      { action: 'create-user', userId: 'streamed-user' },
      SYNC_PAYLOAD_LIMIT_BYTES + 1,
    );

    const answer = await postRaw(body, { chunked: true });

    expect(answer.status).toBe(413);
    expect(answer.headers['x-amzn-errortype']).toBe('RequestEntityTooLargeException');
    expect(await createUser('streamed-user')).toMatchObject({ ok: true });
  });

  it('runs a synchronous payload of exactly 6 MB', async () => {
    const body = paddedEvent({ action: 'create-user', userId: 'at-limit-user' }, SYNC_PAYLOAD_LIMIT_BYTES);

    const answer = await postRaw(body);

    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, user: { userId: 'at-limit-user' } });
  });

  it('refuses an Event payload one byte over 1 MB with 413, as the SDK reports it', async () => {
    const payload = paddedEvent(
      { action: 'create-user', userId: 'event-user' },
      EVENT_PAYLOAD_LIMIT_BYTES + 1,
    );

    const failure = await lambda
      .send(new InvokeCommand({ FunctionName: 'keys-admin', InvocationType: 'Event', Payload: payload }))
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({
      name: 'RequestEntityTooLargeException',
      message: '1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)',
      $metadata: { httpStatusCode: 413 },
    });
    expect(await createUser('event-user')).toMatchObject({ ok: true });
  });

  it('runs the same payload synchronously, where the limit is 6 MB', async () => {
    const payload = paddedEvent(
      { action: 'create-user', userId: 'sync-user' },
      EVENT_PAYLOAD_LIMIT_BYTES + 1,
    );

    const result = await lambda.send(new InvokeCommand({ FunctionName: 'keys-admin', Payload: payload }));

    expect(result.StatusCode).toBe(200);
    expect(decode(result.Payload)).toMatchObject({ ok: true, user: { userId: 'sync-user' } });
  });
});

describe('with the AWS CLI', () => {
  /** `aws --version` → its major version, or undefined when the AWS CLI is not installed. */
  const awsCliMajor = (() => {
    try {
      const version = execFileSync('aws', ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return Number(/aws-cli\/(\d+)/.exec(version)?.[1] ?? '1');
    } catch {
      return undefined;
    }
  })();

  it.skipIf(awsCliMajor === undefined)(
    'aws lambda invoke --endpoint-url works against the local Invoke API',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'keygate-aws-cli-'));
      const outfile = join(dir, 'answer.json');
      try {
        const { stdout } = await run(
          'aws',
          [
            'lambda',
            'invoke',
            '--endpoint-url',
            stack.lambdaUrl,
            '--region',
            'us-east-1',
            '--function-name',
            'keys-admin',
            // v1 sends the payload as given; v2 would base64-decode it without this.
            ...((awsCliMajor ?? 1) >= 2 ? ['--cli-binary-format', 'raw-in-base64-out'] : []),
            '--payload',
            JSON.stringify({ action: 'create-user', userId: 'aws-cli-user' }),
            outfile,
          ],
          {
            env: {
              ...process.env,
              AWS_ACCESS_KEY_ID: 'local',
              AWS_SECRET_ACCESS_KEY: 'local',
              AWS_CONFIG_FILE: join(dir, 'none'),
              AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
            },
            timeout: 30_000,
          },
        );

        expect(JSON.parse(stdout)).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST' });
        expect(JSON.parse(await readFile(outfile, 'utf8'))).toMatchObject({
          ok: true,
          user: { userId: 'aws-cli-user' },
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('the Lambda runtime', () => {
  let server: Server;
  let client: LambdaClient;
  let seen: Context | undefined;

  beforeAll(async () => {
    const functions = new Map<string, LocalFunction>([
      [
        'sleeper',
        { name: 'sleeper', timeoutMs: 200, handler: () => sleep(2000, 'too late', { ref: false }) },
      ],
      [
        'sized',
        {
          name: 'sized',
          timeoutMs: 3000,
          // A JSON string of `length` characters: length + 2 bytes of answer.
          handler: (event) => 'x'.repeat((event as { length: number }).length),
        },
      ],
      [
        'echo',
        {
          name: 'echo',
          timeoutMs: 3000,
          handler: (_event, context) => {
            seen = context;
            return { remaining: context.getRemainingTimeInMillis() };
          },
        },
      ],
    ]);
    server = createInvokeServer({ functions });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    client = createLambdaClient({
      endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    });
  });

  afterAll(async () => {
    client?.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('turns a function that outlives its timeout into a Sandbox.Timedout function error', async () => {
    const result = await client.send(new InvokeCommand({ FunctionName: 'sleeper', Payload: '{}' }));

    expect(result.FunctionError).toBe('Unhandled');
    expect(decode(result.Payload)).toMatchObject({
      errorType: 'Sandbox.Timedout',
      errorMessage: expect.stringMatching(/Task timed out after 0\.20 seconds$/),
    });
  });

  it('gives the handler a Context with its request id, ARN, deadline and the decoded client context', async () => {
    const clientContext = { custom: { actor: 'ops@laptop' } };

    const result = await client.send(
      new InvokeCommand({
        FunctionName: 'echo',
        Payload: '{}',
        ClientContext: Buffer.from(JSON.stringify(clientContext)).toString('base64'),
      }),
    );

    const remaining = (decode(result.Payload) as { remaining: number }).remaining;
    expect(remaining).toBeGreaterThan(2000);
    expect(remaining).toBeLessThanOrEqual(3000);
    expect(seen).toMatchObject({
      functionName: 'echo',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:echo',
      awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      clientContext,
    });
  });

  it('answers a result over 6,291,556 bytes with Function.ResponseSizeTooLarge, as Lambda does', async () => {
    const result = await client.send(
      new InvokeCommand({
        FunctionName: 'sized',
        Payload: JSON.stringify({ length: SYNC_RESPONSE_LIMIT_BYTES - 1 }),
      }),
    );

    expect(result.StatusCode).toBe(200);
    expect(result.FunctionError).toBe('Unhandled');
    expect(decode(result.Payload)).toEqual({
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      errorType: 'Function.ResponseSizeTooLarge',
    });
  });

  it('returns a result of exactly 6,291,556 bytes (the answer limit is 100 bytes above the request limit)', async () => {
    const result = await client.send(
      new InvokeCommand({
        FunctionName: 'sized',
        Payload: JSON.stringify({ length: SYNC_RESPONSE_LIMIT_BYTES - 2 }),
      }),
    );

    expect(result.FunctionError).toBeUndefined();
    expect(result.Payload?.byteLength).toBe(SYNC_RESPONSE_LIMIT_BYTES);
  });
});
