/**
 * The local Lambda Invoke API (SPEC §8): `POST /2015-03-31/functions/{name}/invocations`
 * (Invoke) and `POST /2021-11-15/functions/{name}/response-streaming-invocations`
 * (InvokeWithResponseStream, event-stream framed) on the real wire protocol, so the AWS SDK,
 * the AWS CLI, the ops CLI and the requests function's brain clients use it unchanged. It has
 * no authentication, so it refuses anything a browser could send: otherwise any web page could
 * mint keys through keys-admin.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EVENT_STREAM_CONTENT_TYPE, invokeCompleteMessage, payloadChunkMessage } from './event-stream.js';
import {
  functionArn,
  type InvokeOutcome,
  invokeFunction,
  invokeFunctionStreaming,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type LocalFunction,
  type StreamInvokeOutcome,
} from './functions.js';
import {
  browserRequestProblem,
  decodeClientContext,
  discardBody,
  EVENT_PAYLOAD_LIMIT_BYTES,
  firstHeader,
  INVOKE_PATH,
  type InvocationType,
  isInvocationType,
  isStreamInvocationType,
  parseFunctionName,
  payloadLimit,
  readBody,
  STREAM_INVOKE_PATH,
  SYNC_PAYLOAD_LIMIT_BYTES,
  SYNC_RESPONSE_LIMIT_BYTES,
  syncAnswer,
} from './invoke-request.js';

export {
  EVENT_PAYLOAD_LIMIT_BYTES,
  type FunctionReference,
  MAX_CLIENT_CONTEXT_BYTES,
  parseFunctionName,
  RESPONSE_TOO_LARGE_PAYLOAD,
  SYNC_PAYLOAD_LIMIT_BYTES,
  SYNC_RESPONSE_LIMIT_BYTES,
} from './invoke-request.js';

export interface InvokeServerOptions {
  /** Looked up on every call, so functions can be registered after the server listens. */
  functions: ReadonlyMap<string, LocalFunction>;
  region?: string;
  accountId?: string;
  log?: (line: string) => void;
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

/** Answers an error once the request body has been read and thrown away, so the client, still sending, reads it. */
async function refuse(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  error: ErrorAnswer,
): Promise<void> {
  await discardBody(request);
  sendError(response, requestId, error);
}

/** Lambda's 413, with the message it gives for each invocation type. */
function payloadTooLarge(invocationType: InvocationType, size: number): ErrorAnswer {
  return serviceError(
    413,
    'RequestEntityTooLargeException',
    invocationType === 'Event'
      ? `${size} byte payload is too large for the Event invocation type (limit ${EVENT_PAYLOAD_LIMIT_BYTES} bytes)`
      : `Request must be smaller than ${SYNC_PAYLOAD_LIMIT_BYTES} bytes for the InvokeFunction operation`,
  );
}

export function createInvokeServer(options: InvokeServerOptions): Server {
  const region = options.region ?? LOCAL_REGION;
  const accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
  const log = options.log ?? (() => undefined);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    // Before anything else: a browser's request reaches neither the routing nor a function.
    const browserProblem = browserRequestProblem(request);
    if (browserProblem !== undefined) {
      await refuse(request, response, requestId, serviceError(403, 'AccessDeniedException', browserProblem));
      return;
    }

    const url = new URL(request.url ?? '/', 'http://localhost');
    const streamMatch = STREAM_INVOKE_PATH.exec(url.pathname);
    const streaming = streamMatch !== null;
    const match = streamMatch ?? INVOKE_PATH.exec(url.pathname);
    if (!match?.[1] || request.method !== 'POST') {
      await refuse(
        request,
        response,
        requestId,
        serviceError(
          404,
          'UnknownOperationException',
          'Unknown operation: this server only implements Invoke and InvokeWithResponseStream.',
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
      const name = reference ? `${reference.name}${qualifier ? `:${qualifier}` : ''}` : rawName;
      await refuse(
        request,
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
    const validType = streaming ? isStreamInvocationType(invocationType) : isInvocationType(invocationType);
    if (!validType || !isInvocationType(invocationType)) {
      const allowed = streaming ? '[RequestResponse, DryRun]' : '[Event, RequestResponse, DryRun]';
      await refuse(
        request,
        response,
        requestId,
        serviceError(
          400,
          'InvalidParameterValueException',
          `1 validation error detected: Value '${invocationType}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: ${allowed}`,
          true,
        ),
      );
      return;
    }

    // A declared size over the limit is refused without reading (and keeping) any of the payload.
    const limit = payloadLimit(invocationType);
    const declaredSize = Number(firstHeader(request, 'content-length'));
    if (declaredSize > limit) {
      await refuse(request, response, requestId, payloadTooLarge(invocationType, declaredSize));
      return;
    }

    const clientContext = decodeClientContext(firstHeader(request, 'x-amz-client-context'));
    if (clientContext === 'invalid') {
      await refuse(
        request,
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

    // Counted as it streams in: a chunked body declares no size.
    const read = await readBody(request, limit);
    if (!read.ok) {
      sendError(response, requestId, payloadTooLarge(invocationType, read.size));
      return;
    }

    // Whatever the Content-Type (none from the AWS CLI, octet-stream from the JS SDK), the payload is JSON.
    let event: unknown = {};
    const text = read.body.toString('utf8');
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
    if (streaming) {
      await streamAnswer(response, fn, event, requestId, clientContext);
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
    const answer = syncAnswer(outcome);
    if (!answer.ok) {
      log(
        `invoke ${fn.name} (RequestResponse): its ${answer.bytes}-byte answer is over the ${SYNC_RESPONSE_LIMIT_BYTES}-byte limit`,
      );
      send(response, 200, requestId, JSON.stringify(answer.error), {
        'X-Amz-Executed-Version': '$LATEST',
        'X-Amz-Function-Error': 'Unhandled',
      });
      return;
    }
    send(response, 200, requestId, answer.json, {
      'X-Amz-Executed-Version': '$LATEST',
      ...(outcome.ok ? {} : { 'X-Amz-Function-Error': 'Unhandled' }),
    });
  }

  /**
   * InvokeWithResponseStream: 200 at once, then each piece the function writes as a PayloadChunk
   * event as soon as it is written, then InvokeComplete (ErrorCode: the error type,
   * ErrorDetails: its message, for a function error). A client that goes away does not stop
   * the invocation: Lambda lets it run to its end, and so does this server.
   */
  async function streamAnswer(
    response: ServerResponse,
    fn: LocalFunction,
    event: unknown,
    requestId: string,
    clientContext: ReturnType<typeof decodeClientContext>,
  ): Promise<void> {
    response.writeHead(200, {
      'Content-Type': EVENT_STREAM_CONTENT_TYPE,
      'x-amzn-RequestId': requestId,
      'X-Amz-Executed-Version': '$LATEST',
    });
    // The head goes out now: the caller learns that the invocation started before its first byte.
    response.flushHeaders();
    const write = (bytes: Uint8Array) => {
      if (!response.writableEnded && !response.destroyed) response.write(bytes);
    };
    const outcome: StreamInvokeOutcome = await invokeFunctionStreaming(fn, event, {
      requestId,
      region,
      accountId,
      ...(clientContext && clientContext !== 'invalid' ? { clientContext } : {}),
      onChunk: (chunk) => write(payloadChunkMessage(chunk)),
    });
    if (!outcome.ok) {
      log(
        `invoke ${fn.name} (InvokeWithResponseStream) failed after ${outcome.durationMs}ms: ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
      );
    }
    write(
      invokeCompleteMessage(
        outcome.ok ? {} : { ErrorCode: outcome.error.errorType, ErrorDetails: outcome.error.errorMessage },
      ),
    );
    if (!response.writableEnded && !response.destroyed) response.end();
  }

  /** Only failures are logged: the API's request line already covers the brain call behind it. */
  function logOutcome(fn: LocalFunction, outcome: InvokeOutcome, type: string): void {
    if (outcome.ok) return;
    log(
      `invoke ${fn.name} (${type}) failed after ${outcome.durationMs}ms: ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
    );
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`invoke API failure: ${error instanceof Error ? error.message : String(error)}`);
      sendError(
        response,
        randomUUID(),
        serviceError(500, 'ServiceException', 'Internal error of the local Invoke API.'),
      );
    });
  });
  // An idle connection is closed by its client, never by this server (issue 23 (d)). With Node's
  // default (keepAliveTimeout 5 s, closed at 6 s, announced as `Keep-Alive: timeout=5`) the SDK's
  // agent keeps an idle socket 4 s from when it *read* the answer, and the server counts 6 s from
  // when it *wrote* it: under a burst the shared event loop lags by up to a second or more, so
  // the agent sent an Invoke on a socket the server closed before reading it — `read
  // ECONNRESET` or `socket hang up`, a 504 `brain_timeout` in doubt for a brain that never ran.
  // 0 sends no hint and sets no idle timer: the clients (at most maxSockets each) close their
  // own idle sockets, and stopping the stack closes every connection (closeServer).
  server.keepAliveTimeout = 0;
  return server;
}
