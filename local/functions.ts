/**
 * The local Lambda runtime: loads the real handlers in-process (configuration through
 * process.env at import, as on Lambda), builds a proper `Context` for every invocation
 * and enforces each function's timeout. Errors are reported the way the Node.js runtime
 * reports them (`{errorType, errorMessage, trace}`).
 */
import { randomUUID } from 'node:crypto';
import type { ClientContext, CognitoIdentity, Context } from 'aws-lambda';
import type { FunctionName } from '../infra/functions.js';

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
  | { ok: true; requestId: string; result: unknown; durationMs: number }
  | { ok: false; requestId: string; error: LambdaErrorPayload; durationMs: number };

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
