/**
 * The local Lambda Invoke API (SPEC §8): `POST /2015-03-31/functions/{name}/invocations`
 * on the real wire protocol, so the AWS SDK, the AWS CLI, the ops CLI and the requests
 * function's brain client use it unchanged.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClientContext } from 'aws-lambda';
import {
  functionArn,
  type InvokeOutcome,
  invokeFunction,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type LocalFunction,
} from './functions.js';

/** Lambda's synchronous payload limit. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Lambda's limit on the base64 client context. */
export const MAX_CLIENT_CONTEXT_BYTES = 3583;

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;

export interface InvokeServerOptions {
  /** Looked up on every call, so functions can be registered after the server listens. */
  functions: ReadonlyMap<string, LocalFunction>;
  region?: string;
  accountId?: string;
  log?: (line: string) => void;
}

export interface FunctionReference {
  name: string;
  qualifier?: string;
}

/**
 * Accepts every form Invoke accepts: `name`, `name:qualifier`, `123456789012:function:name`
 * and `arn:aws:lambda:region:account:function:name[:qualifier]`.
 */
export function parseFunctionName(raw: string): FunctionReference | undefined {
  const parts = raw.split(':');
  let rest: string[];
  if (parts[0] === 'arn') {
    if (parts.length < 7 || parts[2] !== 'lambda' || parts[5] !== 'function') return undefined;
    rest = parts.slice(6);
  } else if (parts.length >= 3 && parts[1] === 'function') {
    rest = parts.slice(2);
  } else {
    rest = parts;
  }
  const [name, qualifier, ...extra] = rest;
  if (!name || extra.length > 0 || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) return undefined;
  return qualifier ? { name, qualifier } : { name };
}

interface ErrorAnswer {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

function serviceError(status: number, type: string, message: string, lowerCaseMessage = false): ErrorAnswer {
  return {
    status,
    type,
    body: lowerCaseMessage ? { Type: 'User', message } : { Message: message, Type: 'User' },
  };
}

function send(
  response: ServerResponse,
  status: number,
  requestId: string,
  body: string | undefined,
  headers: Record<string, string> = {},
): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'x-amzn-RequestId': requestId,
    ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}),
    ...headers,
  });
  response.end(body);
}

function sendError(response: ServerResponse, requestId: string, error: ErrorAnswer): void {
  send(response, error.status, requestId, JSON.stringify(error.body), { 'x-amzn-ErrorType': error.type });
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) tooLarge = true;
    if (!tooLarge) chunks.push(buffer);
  }
  return tooLarge ? 'too_large' : Buffer.concat(chunks);
}

function decodeClientContext(header: string | undefined): ClientContext | undefined | 'invalid' {
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_CLIENT_CONTEXT_BYTES) return 'invalid';
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as ClientContext)
      : 'invalid';
  } catch {
    return 'invalid';
  }
}

function firstHeader(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function createInvokeServer(options: InvokeServerOptions): Server {
  const region = options.region ?? LOCAL_REGION;
  const accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
  const log = options.log ?? (() => undefined);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = INVOKE_PATH.exec(url.pathname);
    if (!match?.[1] || request.method !== 'POST') {
      request.resume();
      sendError(
        response,
        requestId,
        serviceError(
          404,
          'UnknownOperationException',
          'Unknown operation: this server only implements Invoke.',
        ),
      );
      return;
    }

    let rawName: string;
    try {
      rawName = decodeURIComponent(match[1]);
    } catch {
      rawName = match[1];
    }
    const reference = parseFunctionName(rawName);
    const qualifier = url.searchParams.get('Qualifier') ?? reference?.qualifier;
    const fn = reference ? options.functions.get(reference.name) : undefined;
    if (!reference || !fn || (qualifier !== undefined && qualifier !== '$LATEST')) {
      request.resume();
      const name = reference ? `${reference.name}${qualifier ? `:${qualifier}` : ''}` : rawName;
      sendError(
        response,
        requestId,
        serviceError(
          404,
          'ResourceNotFoundException',
          `Function not found: ${functionArn(name, region, accountId)}`,
        ),
      );
      return;
    }

    const invocationType = firstHeader(request, 'x-amz-invocation-type') ?? 'RequestResponse';
    if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
      request.resume();
      sendError(
        response,
        requestId,
        serviceError(
          400,
          'InvalidParameterValueException',
          `1 validation error detected: Value '${invocationType}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`,
          true,
        ),
      );
      return;
    }

    const clientContext = decodeClientContext(firstHeader(request, 'x-amz-client-context'));
    if (clientContext === 'invalid') {
      request.resume();
      sendError(
        response,
        requestId,
        serviceError(
          400,
          'InvalidRequestContentException',
          'Client context must be a valid Base64-encoded JSON object.',
          true,
        ),
      );
      return;
    }

    const body = await readBody(request, MAX_INVOKE_PAYLOAD_BYTES);
    if (body === 'too_large') {
      sendError(
        response,
        requestId,
        serviceError(
          413,
          'RequestTooLargeException',
          `Request must be smaller than ${MAX_INVOKE_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
          true,
        ),
      );
      return;
    }

    // Whatever the Content-Type (none from the AWS CLI, octet-stream from the JS SDK), the payload is JSON.
    let event: unknown = {};
    const text = body.toString('utf8');
    if (text.trim() !== '') {
      try {
        event = JSON.parse(text);
      } catch (error) {
        sendError(
          response,
          requestId,
          serviceError(
            400,
            'InvalidRequestContentException',
            `Could not parse request body into json: ${(error as Error).message}`,
            true,
          ),
        );
        return;
      }
    }

    if (invocationType === 'DryRun') {
      send(response, 204, requestId, undefined);
      return;
    }
    const invoke = () =>
      invokeFunction(fn, event, {
        requestId,
        region,
        accountId,
        ...(clientContext ? { clientContext } : {}),
      });
    if (invocationType === 'Event') {
      send(response, 202, requestId, undefined);
      void invoke().then((outcome) => logOutcome(fn, outcome, 'Event'));
      return;
    }

    const outcome = await invoke();
    logOutcome(fn, outcome, 'RequestResponse');
    if (outcome.ok) {
      send(response, 200, requestId, JSON.stringify(outcome.result ?? null), {
        'X-Amz-Executed-Version': '$LATEST',
      });
    } else {
      send(response, 200, requestId, JSON.stringify(outcome.error), {
        'X-Amz-Executed-Version': '$LATEST',
        'X-Amz-Function-Error': 'Unhandled',
      });
    }
  }

  /** Only failures are logged: the API's request line already covers the brain call behind it. */
  function logOutcome(fn: LocalFunction, outcome: InvokeOutcome, type: string): void {
    if (outcome.ok) return;
    log(
      `invoke ${fn.name} (${type}) failed after ${outcome.durationMs}ms: ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
    );
  }

  return createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`invoke API failure: ${error instanceof Error ? error.message : String(error)}`);
      sendError(
        response,
        randomUUID(),
        serviceError(500, 'ServiceException', 'Internal error of the local Invoke API.'),
      );
    });
  });
}
