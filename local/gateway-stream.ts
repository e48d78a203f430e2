/**
 * A STREAM route of the local API Gateway (responseTransferMode STREAM, SPEC §7): the function
 * is invoked as InvokeWithResponseStream would invoke it; its output must start with the JSON
 * prelude (statusCode, headers, multiValueHeaders, cookies) and 8 NUL bytes, within the first
 * 16 KB; after that the body is passed on to the client chunk by chunk as the function writes it.
 * What AWS documents for these routes is in docs/streaming-on-aws.md.
 */
import type { ServerResponse } from 'node:http';
import { invokeFunctionStreaming, type LocalFunction, type StreamInvokeOutcome } from './functions.js';
import { validateProxyResult } from './gateway-responses.js';
import { PRELUDE_DELIMITER } from './response-streaming.js';

/** API Gateway looks for the prelude's delimiter within the first 16 KB of the stream. */
export const PRELUDE_LIMIT_BYTES = 16 * 1024;

const DELIMITER = Buffer.from(PRELUDE_DELIMITER);

export interface StreamHead {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
}

/** The head has arrived: `pipe` sends it and then the body as it is written, to the end of the invocation. */
export interface StreamedAnswer {
  head: StreamHead;
  pipe(response: ServerResponse, requestId: string): Promise<StreamInvokeOutcome>;
}

export type StreamStart =
  | { kind: 'streaming'; answer: StreamedAnswer }
  | { kind: 'refused'; reason: string }
  | { kind: 'timeout' };

function parsePrelude(bytes: Buffer): StreamHead | string {
  let prelude: unknown;
  try {
    prelude = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'the prelude is not JSON';
  }
  if (prelude === null || typeof prelude !== 'object' || Array.isArray(prelude)) {
    return 'the prelude is not a JSON object';
  }
  const { cookies, ...proxyFields } = prelude as Record<string, unknown>;
  if (
    cookies !== undefined &&
    !(Array.isArray(cookies) && cookies.every((item) => typeof item === 'string'))
  ) {
    return 'cookies is not a list of strings';
  }
  // The rest obeys the proxy answer's rules (statusCode, headers, multiValueHeaders); no body here.
  const validated = validateProxyResult({ ...proxyFields, body: '' });
  if (!validated.ok) return validated.reason;
  return {
    statusCode: validated.answer.statusCode,
    headers: validated.answer.headers,
    cookies: (cookies as string[] | undefined) ?? [],
  };
}

/**
 * Starts the invocation and waits for the prelude, at most `timeoutMs` (the integration timeout:
 * API Gateway's clock runs until the head arrives). The invocation is never cut short: a client
 * or a timeout that gives up leaves the function running to its own end, as Lambda does.
 */
export async function startStreamingIntegration(
  fn: LocalFunction,
  event: unknown,
  options: { timeoutMs: number; region: string; accountId: string },
): Promise<StreamStart> {
  let phase: 'prelude' | 'body' | 'refused' = 'prelude';
  let preludeBytes = Buffer.alloc(0);
  const pending: Buffer[] = [];
  let sink: ((chunk: Buffer) => void) | undefined;
  let settleStart: (start: StreamStart) => void = () => undefined;
  const started = new Promise<StreamStart>((resolve) => {
    settleStart = resolve;
  });
  const refuse = (reason: string) => {
    phase = 'refused';
    settleStart({ kind: 'refused', reason });
  };

  const onChunk = (chunk: Uint8Array) => {
    const bytes = Buffer.from(chunk);
    if (phase === 'refused') return;
    if (phase === 'body') {
      if (sink) sink(bytes);
      else pending.push(bytes);
      return;
    }
    preludeBytes = Buffer.concat([preludeBytes, bytes]);
    const at = preludeBytes.indexOf(DELIMITER);
    if (at === -1 || at > PRELUDE_LIMIT_BYTES) {
      if (preludeBytes.length > PRELUDE_LIMIT_BYTES)
        refuse(`no prelude delimiter within ${PRELUDE_LIMIT_BYTES} bytes`);
      return;
    }
    const head = parsePrelude(preludeBytes.subarray(0, at));
    if (typeof head === 'string') {
      refuse(head);
      return;
    }
    phase = 'body';
    const rest = preludeBytes.subarray(at + DELIMITER.length);
    if (rest.length > 0) pending.push(rest);
    settleStart({ kind: 'streaming', answer: { head, pipe } });
  };

  const done = invokeFunctionStreaming(fn, event, {
    region: options.region,
    accountId: options.accountId,
    onChunk,
  });
  void done.then((outcome) => {
    if (phase !== 'prelude') return;
    refuse(
      outcome.ok
        ? 'the function ended its stream without a prelude'
        : `function error before the prelude: ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
    );
  });

  async function pipe(response: ServerResponse, requestId: string): Promise<StreamInvokeOutcome> {
    const head = (await started) as { kind: 'streaming'; answer: StreamedAnswer };
    const { statusCode, headers, cookies } = head.answer.head;
    const writable = () => !response.writableEnded && !response.destroyed;
    if (writable()) {
      response.writeHead(statusCode, {
        ...headers,
        'x-amzn-RequestId': requestId,
        ...(cookies.length > 0 ? { 'Set-Cookie': cookies } : {}),
      });
      response.flushHeaders();
    }
    const write = (bytes: Buffer) => {
      if (writable()) response.write(bytes);
    };
    for (const bytes of pending.splice(0)) write(bytes);
    sink = write;
    const outcome = await done;
    // A failure after the head cannot change the status any more: the stream is cut off, so the
    // client sees an incomplete answer rather than a complete-looking one.
    if (!outcome.ok) response.destroy();
    else if (writable()) response.end();
    return outcome;
  }

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<StreamStart>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), options.timeoutMs);
    timer.unref();
  });
  try {
    const start = await Promise.race([started, timedOut]);
    // Too late for a head: what the function writes from now on goes nowhere.
    if (start.kind === 'timeout') phase = 'refused';
    return start;
  } finally {
    clearTimeout(timer);
  }
}
