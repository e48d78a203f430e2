/**
 * The local API Gateway (REST API, Lambda proxy integration, REQUEST authorizer), HTTPS only.
 * It is built from the stack's own route table, authorizer wiring, limits and gateway
 * responses (`infra/routes.ts`, `infra/gateway-responses.ts`) and applies them in API Gateway's order:
 * unknown path → 404 (no authorizer), stage throttle → 429, body > 10 MB → 413,
 * authorizer (Allow/Deny against the method ARN), integration (29 s) → proxy answer checks.
 * Each function call obeys Lambda's synchronous limits: an event over 6,291,456 bytes is not
 * sent, an answer over 6,291,556 bytes is a `Function.ResponseSizeTooLarge` function error.
 * A route with `responseTransfer: 'STREAM'` streams the function's answer instead (./gateway-stream.ts).
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { FunctionName } from '../infra/functions.js';
import { AUTHORIZER, GATEWAY_LIMITS, ROUTES, type Route } from '../infra/routes.js';
import { evaluateAuthorizerResult } from './authorizer-policy.js';
import { invokeFunction, type LocalFunction } from './functions.js';
import {
  type ApiInfo,
  buildAuthorizerEvent,
  buildProxyEvent,
  type IncomingHttpRequest,
  type IntegrationAuthorizerContext,
  integrationAuthorizerContext,
  type MatchedResource,
} from './gateway-events.js';
import { type HttpAnswer, renderGatewayResponse, validateProxyResult } from './gateway-responses.js';
import { type StreamedAnswer, startStreamingIntegration } from './gateway-stream.js';
import { oversizedSyncEvent, SYNC_PAYLOAD_LIMIT_BYTES, syncAnswer } from './invoke-request.js';
import { type ThrottleSettings, TokenBucket } from './throttle.js';

export interface ApiGatewayOptions {
  tls: { key: string; cert: string };
  api: ApiInfo;
  /** The functions of the route table and the authorizer, by name; looked up per request. */
  functions: Partial<Record<FunctionName, LocalFunction>>;
  throttle?: ThrottleSettings | false;
  maxPayloadBytes?: number;
  integrationTimeoutMs?: number;
  /** The route table; default the stack's (infra/routes.ts). Tests serve their own. */
  routes?: readonly Route[];
  /** One line per request (method, path, status, ms, key_id) and runtime notes. */
  log?: (line: string) => void;
}

interface Outcome {
  answer: HttpAnswer | StreamedAnswer;
  keyId?: string;
}

function matchRoute(routes: readonly Route[], path: string): Route | undefined {
  // API Gateway resolves `/api/v1/requests/` to the same resource as `/api/v1/requests`.
  const normalised = path.length > 1 ? path.replace(/\/$/, '') : path;
  return routes.find((route) => route.path === normalised);
}

function isStreamed(answer: HttpAnswer | StreamedAnswer): answer is StreamedAnswer {
  return 'pipe' in answer;
}

/** A short stable id per resource, like API Gateway's resource ids. */
function resourceIdOf(path: string): string {
  let hash = 0;
  for (const char of path) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash.toString(36).padStart(6, '0').slice(-6);
}

type BodyResult = { kind: 'ok'; body: string | null } | { kind: 'too_large' };

async function readBody(request: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    return { kind: 'too_large' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.resume();
        resolve({ kind: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => {
      if (size > limit) return;
      resolve({ kind: 'ok', body: size === 0 ? null : Buffer.concat(chunks).toString('utf8') });
    });
    request.once('error', reject);
    request.once('close', () => {
      if (!request.complete) reject(new ClientGoneError());
    });
  });
}

/** The client hung up before sending its whole body: nobody is left to answer. */
class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

/** API Gateway's execution-log line for an event Lambda refuses as too large. */
const eventTooLargeLine = (size: number) =>
  `Execution failed: ${size} byte payload is too large for the RequestResponse invocation type (limit ${SYNC_PAYLOAD_LIMIT_BYTES} bytes)`;

function writeAnswer(response: ServerResponse, answer: HttpAnswer, requestId: string): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(answer.statusCode, {
    ...answer.headers,
    'x-amzn-RequestId': requestId,
    'Content-Length': String(answer.body.length),
  });
  response.end(answer.body);
}

export function createApiGateway(options: ApiGatewayOptions): Server {
  const log = options.log ?? (() => undefined);
  const bucket = options.throttle ? new TokenBucket(options.throttle) : undefined;
  const maxPayloadBytes = options.maxPayloadBytes ?? GATEWAY_LIMITS.maxPayloadBytes;
  const integrationTimeoutMs = options.integrationTimeoutMs ?? GATEWAY_LIMITS.integrationTimeoutMs;
  const routes = options.routes ?? ROUTES;

  async function authorize(
    incoming: IncomingHttpRequest,
    resource: MatchedResource,
  ): Promise<{ allowed: IntegrationAuthorizerContext } | { refused: HttpAnswer }> {
    const requestId = incoming.requestId;
    const fn = options.functions[AUTHORIZER.handler];
    if (!fn) {
      log(`authorizer function "${AUTHORIZER.handler}" is not loaded`);
      return { refused: renderGatewayResponse('AUTHORIZER_CONFIGURATION_ERROR', { requestId }) };
    }
    const started = performance.now();
    const event = buildAuthorizerEvent(incoming, options.api, resource);
    // Lambda refuses the invocation: an authorizer failure, like any other (500).
    const eventSize = oversizedSyncEvent(event);
    if (eventSize !== undefined) {
      log(`authorizer: ${eventTooLargeLine(eventSize)}`);
      return { refused: renderGatewayResponse('AUTHORIZER_FAILURE', { requestId }) };
    }
    const outcome = await invokeFunction(fn, event, {
      region: options.api.region,
      accountId: options.api.accountId,
    });
    const latency = Math.round(performance.now() - started);
    const answer = syncAnswer(outcome);
    if (!answer.ok) {
      log(`authorizer failed: ${answer.error.errorType}: ${answer.error.errorMessage}`);
      return { refused: renderGatewayResponse('AUTHORIZER_FAILURE', { requestId }) };
    }
    if (!outcome.ok) {
      // Only a thrown "Unauthorized" is API Gateway's native 401; anything else is a 500.
      if (outcome.error.errorMessage === 'Unauthorized') {
        return { refused: renderGatewayResponse('UNAUTHORIZED', { requestId }) };
      }
      log(`authorizer failed: ${outcome.error.errorType}: ${outcome.error.errorMessage}`);
      return { refused: renderGatewayResponse('AUTHORIZER_FAILURE', { requestId }) };
    }
    const verdict = evaluateAuthorizerResult(outcome.result, event.methodArn);
    if (verdict.kind === 'invalid') {
      log(`authorizer answer rejected: ${verdict.reason}`);
      return { refused: renderGatewayResponse('AUTHORIZER_CONFIGURATION_ERROR', { requestId }) };
    }
    if (verdict.kind === 'deny') {
      return { refused: renderGatewayResponse('ACCESS_DENIED', { requestId, authorizer: verdict.context }) };
    }
    return { allowed: integrationAuthorizerContext(verdict.principalId, verdict.context, latency) };
  }

  async function integrate(
    route: Route,
    incoming: IncomingHttpRequest,
    resource: MatchedResource,
    authorizer: IntegrationAuthorizerContext | undefined,
  ): Promise<HttpAnswer | StreamedAnswer> {
    const requestId = incoming.requestId;
    const fn = options.functions[route.handler];
    // API Gateway's answer to a failed integration is a 502, rendered by the DEFAULT_5XX gateway response.
    const badGateway = () => renderGatewayResponse('DEFAULT_5XX', { requestId }, 502);
    if (!fn) {
      log(`integration function "${route.handler}" is not loaded`);
      return badGateway();
    }
    const event = buildProxyEvent(incoming, options.api, resource, authorizer);
    // Lambda refuses an event over its synchronous limit; API Gateway answers 413 (as recorded
    // against AWS; the body escaped as a JSON string can make the event outgrow the body).
    const eventSize = oversizedSyncEvent(event);
    if (eventSize !== undefined) {
      log(`integration ${route.handler}: ${eventTooLargeLine(eventSize)}`);
      return renderGatewayResponse('REQUEST_TOO_LARGE', { requestId });
    }
    if (route.responseTransfer === 'STREAM') {
      const start = await startStreamingIntegration(fn, event, {
        timeoutMs: integrationTimeoutMs,
        region: options.api.region,
        accountId: options.api.accountId,
      });
      if (start.kind === 'timeout') {
        log(`integration ${route.handler} sent no stream prelude within ${integrationTimeoutMs} ms`);
        return renderGatewayResponse('INTEGRATION_TIMEOUT', { requestId });
      }
      if (start.kind === 'refused') {
        log(`integration ${route.handler}: malformed Lambda streaming response (${start.reason})`);
        return badGateway();
      }
      return start.answer;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), integrationTimeoutMs);
      timer.unref();
    });
    const outcome = await Promise.race([
      invokeFunction(fn, event, { region: options.api.region, accountId: options.api.accountId }),
      timedOut,
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      log(`integration ${route.handler} exceeded ${integrationTimeoutMs} ms`);
      return renderGatewayResponse('INTEGRATION_TIMEOUT', { requestId });
    }
    // An answer over Lambda's limit never reaches API Gateway: a function error, hence 502.
    const answer = syncAnswer(outcome);
    if (!answer.ok) {
      log(`integration ${route.handler} failed: ${answer.error.errorType}: ${answer.error.errorMessage}`);
      return badGateway();
    }
    if (!outcome.ok) {
      log(`integration ${route.handler} failed: ${outcome.error.errorType}: ${outcome.error.errorMessage}`);
      return badGateway();
    }
    const validated = validateProxyResult(outcome.result);
    if (!validated.ok) {
      log(`integration ${route.handler}: malformed Lambda proxy response (${validated.reason})`);
      return badGateway();
    }
    return validated.answer;
  }

  async function handle(request: IncomingMessage, incoming: IncomingHttpRequest): Promise<Outcome> {
    const requestId = incoming.requestId;
    const route = matchRoute(routes, incoming.path);
    if (!route) {
      request.resume();
      return { answer: renderGatewayResponse('MISSING_AUTHENTICATION_TOKEN', { requestId }) };
    }
    if (bucket && !bucket.tryTake()) {
      request.resume();
      return { answer: renderGatewayResponse('THROTTLED', { requestId }) };
    }
    const body = await readBody(request, maxPayloadBytes);
    if (body.kind === 'too_large') {
      // The rest of the body is still read (and dropped), so the client gets to read this answer.
      return { answer: renderGatewayResponse('REQUEST_TOO_LARGE', { requestId }) };
    }
    incoming.body = body.body;
    const resource: MatchedResource = { resourcePath: route.path, resourceId: resourceIdOf(route.path) };

    let authorizer: IntegrationAuthorizerContext | undefined;
    if (route.authorized) {
      const decision = await authorize(incoming, resource);
      if ('refused' in decision) return { answer: decision.refused };
      authorizer = decision.allowed;
    }
    const answer = await integrate(route, incoming, resource, authorizer);
    const keyId = typeof authorizer?.keyId === 'string' ? authorizer.keyId : undefined;
    return keyId ? { answer, keyId } : { answer };
  }

  const server = createServer({ key: options.tls.key, cert: options.tls.cert }, (request, response) => {
    const started = performance.now();
    const url = new URL(request.url ?? '/', 'https://localhost');
    const incoming: IncomingHttpRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      rawHeaders: request.rawHeaders,
      body: null,
      sourceIp: (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      localPort: request.socket.localPort ?? 0,
      requestId: randomUUID(),
      receivedAt: new Date(),
    };
    handle(request, incoming)
      .catch((error: unknown): Outcome | undefined => {
        if (error instanceof ClientGoneError) return undefined;
        log(`local API failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        return { answer: renderGatewayResponse('DEFAULT_5XX', { requestId: incoming.requestId }) };
      })
      .then(async (outcome) => {
        if (!outcome) return;
        const { answer } = outcome;
        let note = '';
        if (isStreamed(answer)) {
          // The client may leave mid-stream: the invocation still runs to its end (the function's business).
          response.once('close', () => {
            if (!response.writableFinished) note ||= ' client_gone';
          });
          const streamed = await answer.pipe(response, incoming.requestId);
          if (!streamed.ok) note = ` stream_failed=${streamed.error.errorType}`;
        } else {
          writeAnswer(response, answer, incoming.requestId);
        }
        const status = isStreamed(answer) ? answer.head.statusCode : answer.statusCode;
        const ms = Math.round(performance.now() - started);
        log(`${incoming.method} ${incoming.path} ${status} ${ms}ms key_id=${outcome.keyId ?? '-'}${note}`);
      });
  });
  // Idle connections are closed by the callers, never by this server: with Node's 5 s default a
  // caller that keeps sockets alive (fetch, the OpenAI SDKs, Python's requests) can send on one
  // just as the server closes it and get a reset for a call never read. The same race cost the
  // local Invoke API 504s under a burst (local/lambda-server.ts, issue 23 (d)).
  server.keepAliveTimeout = 0;
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    // HTTP that cannot be parsed (CR/LF or NUL in a header, bad framing, headers over Node's
    // limit) reaches no handler; it still gets the envelope, as API Gateway's DEFAULT_4XX (400).
    const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    const answer = renderGatewayResponse('DEFAULT_4XX', { requestId });
    const headers = { ...answer.headers, 'x-amzn-RequestId': requestId, Connection: 'close' };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\n${head}Content-Length: ${answer.body.length}\r\n\r\n`,
          'latin1',
        ),
        answer.body,
      ]),
    );
    log(`refused unparsable HTTP (${error.code ?? error.name}) with ${answer.statusCode}`);
  });
  server.on('tlsClientError', (error: Error & { code?: string }) => {
    // Plain HTTP on the HTTPS port lands here: it gets no HTTP answer, only this note.
    if (error.code === 'ERR_SSL_HTTP_REQUEST' || /http request/i.test(error.message)) {
      log('refused a plain-HTTP connection: the local API speaks HTTPS only (use https://)');
    }
  });
  return server;
}
