/**
 * The local Lambda runtime: loads the real handlers in-process (configuration through
 * process.env at import, as on Lambda), builds a proper `Context` for every invocation
 * and enforces each function's timeout. Errors are reported the way the Node.js runtime
 * reports them (`{errorType, errorMessage, trace}`). Handlers marked by
 * `awslambda.streamifyResponse` run as streaming handlers (./response-streaming.ts).
 */
import { randomUUID } from 'node:crypto';
import type { ClientContext, CognitoIdentity, Context } from 'aws-lambda';
import type { FunctionName } from '../infra/functions.js';
import { RESPONSE_TOO_LARGE_PAYLOAD, SYNC_RESPONSE_LIMIT_BYTES } from './invoke-request.js';
import {
  HANDLER_HIGHWATERMARK,
  HANDLER_STREAMING,
  highWaterMarkOf,
  installAwsLambdaGlobal,
  isStreamingHandler,
  LambdaResponseStream,
  runStreamingHandler,
  type StreamingHandler,
} from './response-streaming.js';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '123456789012';

export const DEFAULT_MEMORY_MB = 256;

export type LambdaHandler = (event: unknown, context: Context) => unknown;

export interface LocalFunction {
  /** The function's local name (what the Invoke API and `Context.functionName` show). */
  name: string;
  timeoutMs: number;
  memoryMb?: number;
  handler: LambdaHandler;
}

/** What the Node.js runtime sends for an unhandled error (and what Invoke returns for it). */
export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export type InvokeOutcome =
  | {
      ok: true;
      requestId: string;
      result: unknown;
      durationMs: number;
      /** A streaming handler's answer: the bytes it wrote, which Invoke returns as they are. */
      payload?: Uint8Array;
    }
  | { ok: false; requestId: string; error: LambdaErrorPayload; durationMs: number };

/** How a streamed invocation ended; its bytes went to `onChunk` as they were written. */
export type StreamInvokeOutcome =
  | { ok: true; requestId: string; durationMs: number; contentType: string }
  | { ok: false; requestId: string; error: LambdaErrorPayload; durationMs: number; contentType: string };

export interface StreamInvokeOptions extends InvokeOptions {
  /**
   * Receives each piece the handler writes, when it writes it (a buffered handler's JSON answer
   * as one piece). Nothing arrives after the outcome (a timed-out handler writes into the void).
   */
  onChunk: (chunk: Uint8Array) => void;
}

/** Marks a handler as streaming, as `awslambda.streamifyResponse` does, typed for LocalFunction. */
export function streamingLambdaHandler(
  handler: StreamingHandler,
  options: { highWaterMark?: number } = {},
): LambdaHandler {
  const marked = handler as StreamingHandler & Record<symbol, unknown>;
  marked[HANDLER_STREAMING] = 'response';
  if (options.highWaterMark !== undefined) marked[HANDLER_HIGHWATERMARK] = options.highWaterMark;
  return marked as unknown as LambdaHandler;
}

export interface InvokeOptions {
  requestId?: string;
  /** The decoded `X-Amz-Client-Context` (passed to the handler as is, as the runtime does). */
  clientContext?: ClientContext;
  identity?: CognitoIdentity;
  region?: string;
  accountId?: string;
}

export function functionArn(
  name: string,
  region: string = LOCAL_REGION,
  accountId: string = LOCAL_ACCOUNT_ID,
): string {
  return `arn:aws:lambda:${region}:${accountId}:function:${name}`;
}

/** The runtime's serialisation of a thrown value (aws-lambda-nodejs-runtime-interface-client Errors.js). */
export function toErrorPayload(thrown: unknown): LambdaErrorPayload {
  if (thrown instanceof Error) {
    return {
      errorType: thrown.name || 'Error',
      errorMessage: thrown.message,
      trace: (thrown.stack ?? '').split('\n').filter((line) => line.length > 0),
    };
  }
  return { errorType: typeof thrown, errorMessage: String(thrown), trace: [] };
}

export function buildContext(fn: LocalFunction, requestId: string, options: InvokeOptions = {}): Context {
  const deadline = Date.now() + fn.timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn(fn.name, options.region, options.accountId),
    memoryLimitInMB: String(fn.memoryMb ?? DEFAULT_MEMORY_MB),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `${day}/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  if (options.clientContext !== undefined) context.clientContext = options.clientContext;
  if (options.identity !== undefined) context.identity = options.identity;
  return context;
}

function timeoutPayload(requestId: string, timeoutMs: number): LambdaErrorPayload {
  return {
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
    trace: [],
  };
}

function viaJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

/**
 * Runs one invocation. A handler still running at its timeout is reported as
 * `Sandbox.Timedout` (it keeps running in the background, as nothing can stop a promise).
 */
export async function invokeFunction(
  fn: LocalFunction,
  event: unknown,
  options: InvokeOptions = {},
): Promise<InvokeOutcome> {
  if (isStreamingHandler(fn.handler)) {
    // Invoke (not InvokeWithResponseStream) of a streaming function: its bytes, buffered.
    const chunks: Uint8Array[] = [];
    const outcome = await runStreaming(fn, event, { ...options, onChunk: (chunk) => chunks.push(chunk) });
    if (!outcome.ok) return outcome;
    const payload = Buffer.concat(chunks);
    return {
      ok: true,
      requestId: outcome.requestId,
      result: parseJsonOrUndefined(payload),
      durationMs: outcome.durationMs,
      payload,
    };
  }
  const requestId = options.requestId ?? randomUUID();
  const context = buildContext(fn, requestId, options);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<InvokeOutcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          requestId,
          error: timeoutPayload(requestId, fn.timeoutMs),
          durationMs: Date.now() - started,
        }),
      fn.timeoutMs,
    );
    timer.unref();
  });
  const run = (async (): Promise<InvokeOutcome> => {
    try {
      // Lambda hands over JSON and sends back JSON: no shared objects, no `undefined` keys, no Dates.
      const result = await fn.handler(viaJson(event), context);
      return { ok: true, requestId, result: viaJson(result), durationMs: Date.now() - started };
    } catch (error) {
      return { ok: false, requestId, error: toErrorPayload(error), durationMs: Date.now() - started };
    }
  })();
  try {
    return await Promise.race([run, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function parseJsonOrUndefined(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Runs one invocation as InvokeWithResponseStream does: a streaming handler's bytes go to
 * `onChunk` as it writes them; a buffered handler's answer is its JSON, in one piece (within
 * the 6 MB synchronous answer limit). A function still running at its timeout is reported as
 * `Sandbox.Timedout`; it keeps running, and what it writes later is dropped.
 */
export async function invokeFunctionStreaming(
  fn: LocalFunction,
  event: unknown,
  options: StreamInvokeOptions,
): Promise<StreamInvokeOutcome> {
  if (isStreamingHandler(fn.handler)) return runStreaming(fn, event, options);
  const outcome = await invokeFunction(fn, event, options);
  const contentType = 'application/json';
  if (!outcome.ok) return { ...outcome, contentType };
  const json = JSON.stringify(outcome.result ?? null);
  if (Buffer.byteLength(json) > SYNC_RESPONSE_LIMIT_BYTES) {
    return {
      ok: false,
      requestId: outcome.requestId,
      durationMs: outcome.durationMs,
      contentType,
      error: { ...RESPONSE_TOO_LARGE_PAYLOAD, trace: [] },
    };
  }
  options.onChunk(new TextEncoder().encode(json));
  return { ok: true, requestId: outcome.requestId, durationMs: outcome.durationMs, contentType };
}

async function runStreaming(
  fn: LocalFunction,
  event: unknown,
  options: StreamInvokeOptions,
): Promise<StreamInvokeOutcome> {
  const requestId = options.requestId ?? randomUUID();
  const context = buildContext(fn, requestId, options);
  const started = Date.now();
  let settled = false;
  const highWaterMark = highWaterMarkOf(fn.handler);
  const stream = new LambdaResponseStream({
    onChunk: (chunk) => {
      if (!settled) options.onChunk(chunk);
    },
    ...(highWaterMark !== undefined ? { highWaterMark } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<StreamInvokeOutcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          requestId,
          error: timeoutPayload(requestId, fn.timeoutMs),
          durationMs: Date.now() - started,
          contentType: stream.contentType,
        }),
      fn.timeoutMs,
    );
    timer.unref();
  });
  const run = runStreamingHandler(
    fn.handler as unknown as StreamingHandler,
    viaJson(event),
    stream,
    context,
  ).then((failure): StreamInvokeOutcome => {
    const durationMs = Date.now() - started;
    return failure === undefined
      ? { ok: true, requestId, durationMs, contentType: stream.contentType }
      : { ok: false, requestId, error: toErrorPayload(failure), durationMs, contentType: stream.contentType };
  });
  try {
    return await Promise.race([run, timedOut]);
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

/** Loads handlers one at a time: each import sees only its own environment overlay. */
let loading: Promise<unknown> = Promise.resolve();
let instanceCounter = 0;

/**
 * Imports a handler module as a fresh instance (a query string makes it a new module),
 * with `env` set in process.env while it initialises, so several local stacks with
 * different tables or timeouts can live in one process.
 */
export async function loadHandler(
  moduleUrl: URL,
  env: Readonly<Record<string, string | undefined>>,
): Promise<LambdaHandler> {
  // The runtime sets the global before it imports the handler: modules read it at import (middy does).
  installAwsLambdaGlobal();
  const load = async (): Promise<LambdaHandler> => {
    const saved = new Map<string, string | undefined>();
    for (const [name, value] of Object.entries(env)) {
      saved.set(name, process.env[name]);
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    try {
      instanceCounter += 1;
      const module = (await import(`${moduleUrl.href}?instance=${instanceCounter}`)) as { handler?: unknown };
      if (typeof module.handler !== 'function') {
        throw new Error(`${moduleUrl.pathname} does not export a handler function`);
      }
      return module.handler as LambdaHandler;
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  };
  const next = loading.then(load, load);
  loading = next.catch(() => undefined);
  return next;
}

/** The module of each function's handler, relative to this file. */
export function handlerModule(name: FunctionName): URL {
  return new URL(`../functions/${name}/handler.ts`, import.meta.url);
}
