/**
 * What an Invoke request brings, read as Lambda reads it: the function reference, the
 * invocation type and its payload limit, the client context, the body (counted as it
 * streams), and whether a browser could have sent it. `lambda-server.ts` answers from these.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientContext } from 'aws-lambda';
import type { InvokeOutcome } from './functions.js';

/**
 * Lambda's limit on a synchronous (RequestResponse, DryRun) request payload: 6 MB. It applies
 * to the Invoke API and to the events API Gateway sends (authorizer and proxy integration).
 */
export const SYNC_PAYLOAD_LIMIT_BYTES = 6_291_456;
/**
 * Lambda's limit on a synchronous answer, 100 bytes above the request limit: the number
 * Lambda's own error names ("… maximum allowed payload size (6291556 bytes).").
 */
export const SYNC_RESPONSE_LIMIT_BYTES = 6_291_556;
/** Lambda's limit on an asynchronous (Event) request payload. */
export const EVENT_PAYLOAD_LIMIT_BYTES = 1_048_576;
/** Lambda's limit on the base64 client context. */
export const MAX_CLIENT_CONTEXT_BYTES = 3583;

export const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;
/** InvokeWithResponseStream's path (its own API version). */
export const STREAM_INVOKE_PATH = /^\/2021-11-15\/functions\/([^/]+)\/response-streaming-invocations\/?$/;

/** `127.0.0.1`, `localhost` or `[::1]`, each with an optional port. */
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;

export const INVOCATION_TYPES = ['RequestResponse', 'Event', 'DryRun'] as const;
export type InvocationType = (typeof INVOCATION_TYPES)[number];

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

/** Reads the body to its end, keeping none of it. */
export async function discardBody(request: IncomingMessage): Promise<void> {
  try {
    for await (const _chunk of request) {
      // Thrown away.
    }
  } catch {
    // The client went away: there is nobody left to answer.
  }
}

/**
 * Counts the bytes as they arrive and keeps at most `limit` of them: past the limit the rest
 * is read and thrown away (so the client can read the 413) and only its size is kept.
 */
export async function readBody(
  request: IncomingMessage,
  limit: number,
): Promise<{ ok: true; body: Buffer } | { ok: false; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= limit) chunks.push(buffer);
    else chunks.length = 0;
  }
  return size <= limit ? { ok: true, body: Buffer.concat(chunks) } : { ok: false, size };
}

export function payloadLimit(invocationType: InvocationType): number {
  return invocationType === 'Event' ? EVENT_PAYLOAD_LIMIT_BYTES : SYNC_PAYLOAD_LIMIT_BYTES;
}

/** What Lambda answers (a function error, `Unhandled`) for a synchronous answer over the limit. */
export const RESPONSE_TOO_LARGE_PAYLOAD = {
  errorMessage: `Response payload size exceeded maximum allowed payload size (${SYNC_RESPONSE_LIMIT_BYTES} bytes).`,
  errorType: 'Function.ResponseSizeTooLarge',
} as const;

/**
 * The size of a synchronous event as Lambda counts it (its JSON, in UTF-8 bytes) when it is
 * over the 6 MB limit, or undefined: such an event never reaches the function.
 */
export function oversizedSyncEvent(event: unknown): number | undefined {
  const size = Buffer.byteLength(JSON.stringify(event) ?? 'null');
  return size > SYNC_PAYLOAD_LIMIT_BYTES ? size : undefined;
}

/** The JSON a synchronous invocation sends back (its result, or its error), with its size. */
export type SyncAnswer =
  | { ok: true; json: string; bytes: number }
  | { ok: false; bytes: number; error: typeof RESPONSE_TOO_LARGE_PAYLOAD };

/**
 * Applies Lambda's answer limit to an outcome: an answer over 6,291,556 bytes is not
 * delivered; Lambda reports `Function.ResponseSizeTooLarge` instead (a function error).
 */
export function syncAnswer(outcome: InvokeOutcome): SyncAnswer {
  // A streaming function's bytes are its answer as they are (Invoke buffers them).
  const json =
    outcome.ok && outcome.payload !== undefined
      ? Buffer.from(outcome.payload).toString('utf8')
      : JSON.stringify(outcome.ok ? (outcome.result ?? null) : outcome.error);
  const bytes = Buffer.byteLength(json);
  return bytes > SYNC_RESPONSE_LIMIT_BYTES
    ? { ok: false, bytes, error: RESPONSE_TOO_LARGE_PAYLOAD }
    : { ok: true, json, bytes };
}

/**
 * Why a request is one a browser could send (an `Origin` header, or a `Host` that is not
 * loopback, as after DNS rebinding), or undefined. The AWS SDK, the AWS CLI and Node's
 * fetch send no Origin and the loopback Host they were given.
 */
export function browserRequestProblem(request: IncomingMessage): string | undefined {
  if (request.headers.origin !== undefined) {
    return 'The local Invoke API refuses requests with an Origin header: a web page must not invoke local functions.';
  }
  const host = request.headers.host;
  if (host === undefined || !LOOPBACK_HOST.test(host)) {
    const refused = host === undefined ? 'a request without Host is' : `Host ${JSON.stringify(host)} is`;
    return `The local Invoke API only answers requests with a loopback Host (127.0.0.1, localhost or [::1], any port): ${refused} refused.`;
  }
  return undefined;
}

export function decodeClientContext(header: string | undefined): ClientContext | undefined | 'invalid' {
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

export function firstHeader(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function isInvocationType(value: string): value is InvocationType {
  return (INVOCATION_TYPES as readonly string[]).includes(value);
}

/** InvokeWithResponseStream takes no `Event`: its ResponseStreamingInvocationType has only these. */
export const STREAM_INVOCATION_TYPES = ['RequestResponse', 'DryRun'] as const;
export type StreamInvocationType = (typeof STREAM_INVOCATION_TYPES)[number];

export function isStreamInvocationType(value: string): value is StreamInvocationType {
  return (STREAM_INVOCATION_TYPES as readonly string[]).includes(value);
}
