/**
 * The local Invoke API speaks InvokeWithResponseStream as Lambda does (SPEC §4, §8): the
 * unchanged AWS SDK command and botocore (the AWS CLI's library; CLI v1 on this image has no
 * `invoke-with-response-stream`) read PayloadChunk events as the function writes them and an
 * InvokeComplete that names a function error. Handlers are built on the awslambda emulation.
 */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamResponseEvent,
  type LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaHandler, type LocalFunction, streamingLambdaHandler } from '../../../local/functions.js';
import { createInvokeServer } from '../../../local/lambda-server.js';
import { closeServer } from '../../../local/ports.js';
import {
  type AwsLambdaGlobal,
  HANDLER_STREAMING,
  installAwsLambdaGlobal,
} from '../../../local/response-streaming.js';
import { createLambdaClient } from '../../../shared/adapters/aws-clients.js';

const run = promisify(execFile);
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

installAwsLambdaGlobal();
const awslambda = (globalThis as unknown as { awslambda: AwsLambdaGlobal }).awslambda;

const PAUSE_MS = 400;
const functions = new Map<string, LocalFunction>();
const fn = (name: string, handler: LambdaHandler, timeoutMs = 5000) =>
  functions.set(name, { name, handler, timeoutMs });

// Built with the global, as a handler module would be.
fn(
  'pacer',
  awslambda.streamifyResponse(async (_event: unknown, stream: NodeJS.WritableStream) => {
    stream.write('first\n');
    await sleep(PAUSE_MS);
    stream.write('second\n');
    stream.end();
  }) as unknown as LambdaHandler,
);
fn(
  'fails-after-write',
  streamingLambdaHandler(async (_event, stream) => {
    stream.write('partial');
    throw new RangeError('broke mid-stream');
  }),
);
fn(
  'not-async',
  streamingLambdaHandler((_event, stream) => {
    stream.end('x');
  }),
);
fn(
  'never-ends',
  streamingLambdaHandler(async (_event, stream) => {
    stream.write('started');
  }),
  300,
);
fn('buffered', async (event) => ({ echoed: event }));
fn(
  'middy-http',
  middy({ streamifyResponse: true }).handler(async () => ({
    statusCode: 201,
    headers: { 'content-type': 'text/plain' },
    body: 'made by middy',
  })) as unknown as LambdaHandler,
);

let server: Server;
let endpoint: string;
let lambda: LambdaClient;

beforeAll(async () => {
  server = createInvokeServer({ functions });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  lambda = createLambdaClient({ endpoint });
});

afterAll(async () => {
  lambda?.destroy();
  if (server) await closeServer(server);
});

interface Arrival {
  at: number;
  event: InvokeWithResponseStreamResponseEvent;
}

async function invokeStream(name: string, payload: unknown = {}) {
  const started = Date.now();
  const output = await lambda.send(
    new InvokeWithResponseStreamCommand({ FunctionName: name, Payload: JSON.stringify(payload) }),
  );
  const arrivals: Arrival[] = [];
  for await (const event of output.EventStream ?? []) arrivals.push({ at: Date.now() - started, event });
  const chunks = arrivals.flatMap(({ event }) =>
    event.PayloadChunk?.Payload ? [event.PayloadChunk.Payload] : [],
  );
  const complete = arrivals.find(({ event }) => event.InvokeComplete)?.event.InvokeComplete;
  return { output, arrivals, chunks, complete };
}

describe('InvokeWithResponseStream through the AWS SDK', () => {
  it('delivers each write as its own PayloadChunk when it is written, then InvokeComplete', async () => {
    const { output, arrivals, chunks, complete } = await invokeStream('pacer');

    expect(output.StatusCode).toBe(200);
    expect(output.ExecutedVersion).toBe('$LATEST');
    expect(chunks.map(text)).toEqual(['first\n', 'second\n']);
    const [first, second] = arrivals;
    // The first chunk arrived before the handler's pause ended, the second after it.
    expect(second?.at ?? 0).toBeGreaterThanOrEqual((first?.at ?? 0) + PAUSE_MS - 50);
    expect(complete).toEqual({});
    expect(arrivals.at(-1)?.event.InvokeComplete).toBeDefined();
  });

  it('reports an error after the first bytes in InvokeComplete, the bytes kept', async () => {
    const { chunks, complete } = await invokeStream('fails-after-write');

    expect(chunks.map(text)).toEqual(['partial']);
    expect(complete?.ErrorCode).toBe('RangeError');
    expect(complete?.ErrorDetails).toBe('broke mid-stream');
  });

  it('fails a streaming handler that returns no promise, as the runtime does', async () => {
    const { complete } = await invokeStream('not-async');

    expect(complete).toMatchObject({
      ErrorCode: 'string',
      ErrorDetails: 'Streaming does not support non-async handlers.',
    });
  });

  it('times out a handler that never ends its stream', async () => {
    const { chunks, complete } = await invokeStream('never-ends');

    expect(chunks.map(text)).toEqual(['started']);
    expect(complete?.ErrorCode).toBe('Sandbox.Timedout');
  });

  it('answers a buffered handler with its JSON payload as one PayloadChunk', async () => {
    const { chunks, complete } = await invokeStream('buffered', { n: 1 });

    expect(chunks.map(text)).toEqual(['{"echoed":{"n":1}}']);
    expect(complete).toEqual({});
  });

  it('streams middy 6 with streamifyResponse: prelude, 8 NUL bytes, then the body', async () => {
    const { chunks } = await invokeStream('middy-http');
    const bytes = Buffer.concat(chunks);
    const delimiter = bytes.indexOf(Buffer.alloc(8));

    expect(JSON.parse(bytes.subarray(0, delimiter).toString())).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'text/plain' },
    });
    expect(bytes.subarray(delimiter + 8).toString()).toBe('made by middy');
  });

  it('refuses an unknown function before any stream, as Invoke does', async () => {
    await expect(
      lambda.send(new InvokeWithResponseStreamCommand({ FunctionName: 'nope', Payload: '{}' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('the wire format', () => {
  it('answers application/vnd.amazon.eventstream; errors before the stream are the ordinary Invoke errors', async () => {
    const path = (name: string) => `${endpoint}/2021-11-15/functions/${name}/response-streaming-invocations`;
    const ok = await fetch(path('buffered'), { method: 'POST', body: '{}' });
    expect(ok.headers.get('content-type')).toBe('application/vnd.amazon.eventstream');
    expect(ok.headers.get('x-amz-executed-version')).toBe('$LATEST');
    await ok.arrayBuffer();

    const badJson = await fetch(path('buffered'), { method: 'POST', body: '{not json' });
    expect(badJson.status).toBe(400);
    expect(badJson.headers.get('x-amzn-errortype')).toBe('InvalidRequestContentException');
    await badJson.arrayBuffer();

    const event = await fetch(path('buffered'), {
      method: 'POST',
      body: '{}',
      headers: { 'X-Amz-Invocation-Type': 'Event' },
    });
    expect(event.status).toBe(400);
    expect(event.headers.get('x-amzn-errortype')).toBe('InvalidParameterValueException');
    await event.arrayBuffer();

    const tooLarge = await fetch(path('buffered'), { method: 'POST', body: 'x'.repeat(6_291_457) });
    expect(tooLarge.status).toBe(413);
    await tooLarge.arrayBuffer();
  });

  it('Invoke (not InvokeWithResponseStream) of a streaming function returns its bytes, buffered', async () => {
    const result = await lambda.send(new InvokeCommand({ FunctionName: 'pacer', Payload: '{}' }));

    expect(result.FunctionError).toBeUndefined();
    expect(text(result.Payload)).toBe('first\nsecond\n');
  });

  it('awslambda.streamifyResponse marks the handler the way the runtime checks it', () => {
    const handler = awslambda.streamifyResponse(async () => undefined);
    expect((handler as unknown as Record<symbol, unknown>)[HANDLER_STREAMING]).toBe('response');
  });
});

describe('botocore (the AWS CLI library) as a second client', () => {
  it('reads the PayloadChunk and InvokeComplete events', async () => {
    const script = `
import json, sys, botocore.session
client = botocore.session.get_session().create_client('lambda', region_name='us-east-1',
    endpoint_url=sys.argv[1], aws_access_key_id='local', aws_secret_access_key='local')
for name in ('pacer', 'fails-after-write'):
    answer = client.invoke_with_response_stream(FunctionName=name, Payload=b'{}')
    events = []
    for event in answer['EventStream']:
        if 'PayloadChunk' in event:
            events.append({'chunk': event['PayloadChunk']['Payload'].decode()})
        if 'InvokeComplete' in event:
            events.append({'complete': event['InvokeComplete']})
    print(json.dumps({'name': name, 'status': answer['StatusCode'], 'events': events}))
`;
    const { stdout } = await run('python3', ['-c', script, endpoint], { timeout: 30_000 });
    const [pacer, failing] = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { status: number; events: unknown[] });

    expect(pacer).toMatchObject({
      status: 200,
      events: [{ chunk: 'first\n' }, { chunk: 'second\n' }, { complete: {} }],
    });
    expect(failing?.events).toEqual([
      { chunk: 'partial' },
      { complete: { ErrorCode: 'RangeError', ErrorDetails: 'broke mid-stream' } },
    ]);
  });
});
