/**
 * A tiny Lambda Invoke API for tests, speaking the wire protocol the AWS SDK uses
 * (`POST /2015-03-31/functions/{name}/invocations`; a function error is HTTP 200 with
 * `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}`), so the real
 * LambdaClient and brain client run unchanged against in-process functions.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type TestFunction = (event: unknown) => Promise<unknown>;

/** Return this from a function to send an exact HTTP answer (e.g. a payload that is not JSON). */
export class RawReply {
  constructor(
    readonly body: string,
    readonly headers: Record<string, string> = {},
    readonly status = 200,
  ) {}
}

export interface Invocation {
  functionName: string;
  event: unknown;
}

export interface InvokeServer {
  endpoint: string;
  invocations: Invocation[];
  /** Invocations of one function so far. */
  count(functionName: string): number;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  if (response.destroyed) return;
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  response.end(body);
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startInvokeServer(functions: Record<string, TestFunction>): Promise<InvokeServer> {
  const invocations: Invocation[] = [];
  const server = createServer(async (request, response) => {
    const match = INVOKE_PATH.exec(request.url?.split('?')[0] ?? '');
    const text = await readBody(request);
    const name =
      decodeURIComponent(match?.[1] ?? '')
        .split(':')
        .at(-1) ?? '';
    const fn = functions[name];
    if (request.method !== 'POST' || !match || !fn) {
      send(
        response,
        404,
        JSON.stringify({
          Message: `Function not found: arn:aws:lambda:us-east-1:000000000000:function:${name}`,
          Type: 'User',
        }),
        { 'x-amzn-ErrorType': 'ResourceNotFoundException' },
      );
      return;
    }
    let event: unknown;
    try {
      event = text === '' ? {} : JSON.parse(text);
    } catch {
      send(
        response,
        400,
        JSON.stringify({ Type: 'User', message: 'Could not parse request body into json' }),
        {
          'x-amzn-ErrorType': 'InvalidRequestContentException',
        },
      );
      return;
    }
    invocations.push({ functionName: name, event });
    try {
      const result = await fn(event);
      if (result instanceof RawReply) send(response, result.status, result.body, result.headers);
      else send(response, 200, JSON.stringify(result ?? null), { 'X-Amz-Executed-Version': '$LATEST' });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      send(
        response,
        200,
        JSON.stringify({ errorType: failure.name, errorMessage: failure.message, trace: [] }),
        { 'X-Amz-Function-Error': 'Unhandled', 'X-Amz-Executed-Version': '$LATEST' },
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    count: (functionName) => invocations.filter((entry) => entry.functionName === functionName).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
