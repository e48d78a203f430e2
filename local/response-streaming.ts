/**
 * Lambda's response streaming, as the Node.js runtime offers it (aws-lambda-nodejs-runtime-interface-client
 * da5777a, `src/UserFunction.js`, `src/HttpResponseStream.js`, `src/ResponseStream.js`, `src/Runtime.js`):
 * the global `awslambda` with `streamifyResponse(handler)`, which marks a handler
 * `(event, responseStream, context) => Promise` as streaming, and `HttpResponseStream.from(stream,
 * prelude)`, which makes the first write send the JSON prelude and 8 NUL bytes (the
 * `application/vnd.awslambda.http-integration-response` format API Gateway and function URLs read).
 * middy's `streamifyResponse: true` runs on it unchanged.
 */
import { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';

/** The runtime's marks on a handler (Symbol.for, so any copy of this module sees the same ones). */
export const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
export const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

export const HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
export const DEFAULT_STREAM_CONTENT_TYPE = 'application/octet-stream';
/** The prelude ends with 8 NUL bytes (a NUL cannot occur in the JSON before them). */
export const PRELUDE_DELIMITER = new Uint8Array(8);

/** The runtime's own error classes are named `Runtime.<Class>`. */
export class InvalidStreamingOperation extends Error {
  override readonly name = 'Runtime.InvalidStreamingOperation';
}
export class MalformedStreamingHandler extends Error {
  override readonly name = 'Runtime.MalformedStreamingHandler';
}

/** What `HttpResponseStream.from` takes: the head of the HTTP answer. */
export interface HttpResponsePrelude {
  statusCode?: number;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  cookies?: string[];
}

export interface ResponseStreamOptions {
  /** Receives every piece as it is written (prelude and delimiter included). */
  onChunk: (chunk: Uint8Array) => void;
  highWaterMark?: number;
}

/**
 * The stream a streaming handler writes to. As in the runtime: a chunk that is not a string or
 * bytes is written as its JSON; the content type can be set only before the first write; the
 * first `write()` runs `_onBeforeFirstWrite` (how HttpResponseStream puts its prelude first);
 * `end(chunk)` writes its chunk without that hook, exactly as the runtime's `end` does.
 */
export class LambdaResponseStream extends Writable {
  _onBeforeFirstWrite: ((write: (chunk: string | Uint8Array) => void) => void) | undefined;
  #contentType = DEFAULT_STREAM_CONTENT_TYPE;
  #written = false;
  readonly #onChunk: (chunk: Uint8Array) => void;

  constructor(options: ResponseStreamOptions) {
    super(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {});
    this.#onChunk = options.onChunk;
    // As the runtime's request has its own error listener: a write after end fails the
    // invocation instead of crashing the process that hosts every local function.
    this.on('error', (error: Error) => {
      this.failure ??= error;
    });
  }

  /** The first error the stream raised (a write after end, a destroy with an error). */
  failure: Error | undefined;

  get contentType(): string {
    return this.#contentType;
  }

  setContentType(contentType: string): void {
    if (this.#written) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    this.#contentType = contentType;
  }

  override write(chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean {
    const data =
      typeof chunk === 'string' || chunk instanceof Uint8Array
        ? chunk
        : (JSON.stringify(chunk) ?? 'undefined');
    if (!this.#written && typeof this._onBeforeFirstWrite === 'function') {
      this._onBeforeFirstWrite((piece) => super.write(piece));
    }
    this.#written = true;
    return super.write(
      data,
      encodingOrCallback as BufferEncoding,
      callback as ((error: Error | null | undefined) => void) | undefined,
    );
  }

  override end(chunk?: unknown, encodingOrCallback?: unknown, callback?: unknown): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    if (chunk !== undefined && chunk !== null) {
      this.#written = true;
      super.write(chunk as string | Uint8Array, encodingOrCallback as BufferEncoding);
    }
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    return super.end(done as (() => void) | undefined);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length > 0) this.#onChunk(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    callback();
  }
}

/** `awslambda.HttpResponseStream` (src/HttpResponseStream.js). */
export const HttpResponseStream = {
  from(stream: LambdaResponseStream, prelude: HttpResponsePrelude): LambdaResponseStream {
    stream.setContentType(HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE);
    const metadata = JSON.stringify(prelude);
    stream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(PRELUDE_DELIMITER);
    };
    return stream;
  },
};

export type StreamingHandler = (
  event: unknown,
  responseStream: LambdaResponseStream,
  context: Context,
) => unknown;

function streamifyResponse<T extends object>(handler: T, options?: { highWaterMark?: number }): T {
  const marked = handler as Record<symbol, unknown>;
  marked[HANDLER_STREAMING] = STREAM_RESPONSE;
  if (typeof options?.highWaterMark === 'number')
    marked[HANDLER_HIGHWATERMARK] = Math.trunc(options.highWaterMark);
  return handler;
}

export interface AwsLambdaGlobal {
  streamifyResponse: typeof streamifyResponse;
  HttpResponseStream: typeof HttpResponseStream;
}

/**
 * Sets `globalThis.awslambda` as the runtime does before it imports the handler module (unless
 * AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA is `1`/`true`). Modules read it at import time (middy does),
 * so this runs before any handler is loaded.
 */
export function installAwsLambdaGlobal(): void {
  const optOut = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (optOut === '1' || optOut === 'true') return;
  const lambdaGlobal: AwsLambdaGlobal = { streamifyResponse, HttpResponseStream };
  (globalThis as unknown as { awslambda?: AwsLambdaGlobal }).awslambda = lambdaGlobal;
}

/** Whether the runtime would run this handler as a streaming one; a mark other than `response` is refused. */
export function isStreamingHandler(handler: unknown): boolean {
  const mark = (handler as Record<symbol, unknown> | null)?.[HANDLER_STREAMING];
  if (mark === undefined || mark === null || mark === false) return false;
  if (mark === STREAM_RESPONSE) return true;
  throw new MalformedStreamingHandler('Only response streaming is supported.');
}

export function highWaterMarkOf(handler: unknown): number | undefined {
  const mark = (handler as Record<symbol, unknown> | null)?.[HANDLER_HIGHWATERMARK];
  const value = typeof mark === 'number' ? Math.trunc(mark) : Number.NaN;
  return Number.isNaN(value) ? undefined : value;
}

/**
 * Runs a streaming handler as Runtime.handleOnceStreaming does: a handler that does not return a
 * promise fails; a rejected promise fails the invocation (the bytes written so far stay written);
 * after the promise resolves the invocation ends when the stream has finished (a stream never
 * ended keeps the invocation open until its timeout, as the runtime waits for it).
 * Resolves with the error to report, or undefined.
 */
export async function runStreamingHandler(
  handler: StreamingHandler,
  event: unknown,
  stream: LambdaResponseStream,
  context: Context,
): Promise<unknown> {
  try {
    const result = handler(event, stream, context);
    if (!isPromiseLike(result)) return 'Streaming does not support non-async handlers.';
    await result;
    await finished(stream);
    return undefined;
  } catch (error) {
    return error;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function finished(stream: LambdaResponseStream): Promise<void> {
  if (stream.failure) return Promise.reject(stream.failure);
  if (stream.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.once('finish', () => resolve());
    stream.once('error', reject);
  });
}
