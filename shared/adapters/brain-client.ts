/**
 * Invokes the brain Lambda (RequestResponse) and maps every way it can fail to the
 * envelope's 502/503/504, saying whether the brain may have acted (which decides whether a
 * repeat of the Idempotency-Key must wait). Details go to the log; the caller sees only the code.
 */
import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import { type BrainDecisionAnswer, type BrainRequest, brainAnswerSchema } from '../domain/brain/contract.js';
import { answerOfEvents, brainStreamEventSchema } from '../domain/brain/stream.js';
import type { LogSink } from '../domain/ports.js';
import { BrainCallError, type InvokeBrain } from '../domain/requests/ports.js';

export interface BrainClientOptions {
  lambda: LambdaClient;
  functionName: string;
  timeoutMs: number;
  logger: Pick<LogSink, 'error'>;
}

const THROTTLE_NAMES = /throttl|toomanyrequests|ratelimit/i;
const TIMEOUT_NAMES = /timeout|timedout|aborterror/i;
/** Failures to reach Lambda at all: the Invoke was never sent, so the brain never ran. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NOT_CONNECTED = /without establishing a connection|connect ECONNREFUSED/i;

export type BrainErrorCode = 'brain_error' | 'brain_unavailable' | 'brain_timeout';

/**
 * The status a brain's function error gets from its error type (a brain reporting its
 * provider's throttle is 503, a timeout 504), never whether the brain acted: it ran.
 */
export function functionErrorCode(errorType: string): BrainErrorCode {
  return THROTTLE_NAMES.test(errorType)
    ? 'brain_unavailable'
    : TIMEOUT_NAMES.test(errorType)
      ? 'brain_timeout'
      : 'brain_error';
}

/**
 * Classifies an SDK/transport failure of the Invoke call itself, and whether the brain may
 * have run: a throttle, a Lambda 4xx (not found, access denied, payload too large) or a
 * connection never made means it did not; a timeout, a 5xx or a lost answer means it may have.
 * Only Lambda's throttle (HTTP 429, TooManyRequestsException) counts as a throttle: an error
 * whose name merely sounds like one may come from code that ran.
 */
export function classifyInvokeFailure(error: unknown): BrainCallError {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const code = (error as { code?: unknown } | null)?.code;
  // Lambda's own throttle: the Invoke was refused with 429 before the brain's code ran.
  if (status === 429 || name === 'TooManyRequestsException') {
    return new BrainCallError('brain_unavailable', false, error);
  }
  if (
    (typeof code === 'string' && NOT_SENT_CODES.has(code)) ||
    NOT_CONNECTED.test(message) ||
    name === 'ConnectionTimeoutError'
  ) {
    return new BrainCallError('brain_error', false, error);
  }
  if (TIMEOUT_NAMES.test(name) || /timed? ?out/i.test(message)) {
    return new BrainCallError('brain_timeout', true, error);
  }
  // Lambda refused the Invoke itself (unknown function, access denied, payload too large): nothing ran.
  const fault = (error as { $fault?: unknown } | null)?.$fault;
  if (fault === 'client' || (status !== undefined && status >= 400 && status < 500)) {
    return new BrainCallError('brain_error', false, error);
  }
  return new BrainCallError('brain_error', true, error);
}

/**
 * A streaming brain's NDJSON events read as its ordinary answer (decision, deltas, final, in
 * that order); undefined when `text` is not such a stream (one ordinary JSON payload). Events
 * out of order or outside the contract throw: the answer is outside the contract.
 */
export function answerOfStreamText(text: string): BrainDecisionAnswer | undefined {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) return undefined;
  const events = lines.map((line) => brainStreamEventSchema.parse(JSON.parse(line)));
  const [decision, ...rest] = events;
  const final = rest.pop();
  const deltas = rest.filter((event) => event.type === 'delta');
  if (decision?.type !== 'decision' || final?.type !== 'final' || deltas.length !== rest.length) {
    throw new Error('the brain stream is not one decision, its deltas and one final event');
  }
  return answerOfEvents(decision, deltas, final);
}

export function createBrainClient(options: BrainClientOptions): InvokeBrain {
  const { lambda, functionName, timeoutMs, logger } = options;
  const decoder = new TextDecoder();

  return async function invokeBrain(request: BrainRequest): Promise<BrainDecisionAnswer> {
    const started = Date.now();
    let result: InvokeCommandOutput;
    try {
      result = await lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'RequestResponse',
          Payload: JSON.stringify(request),
        }),
        { abortSignal: AbortSignal.timeout(timeoutMs) },
      );
    } catch (error) {
      const mapped = classifyInvokeFailure(error);
      logger.error('brain invoke failed', {
        request_id: request.request_id,
        code: mapped.code,
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message : String(error),
        elapsed_ms: Date.now() - started,
      });
      throw mapped;
    }

    const text = result.Payload ? decoder.decode(result.Payload) : '';
    if (result.FunctionError) {
      let errorType = '';
      try {
        errorType = String((JSON.parse(text) as { errorType?: unknown }).errorType ?? '');
      } catch {
        // a non-JSON error payload is still a brain error
      }
      // The type picks the status the caller sees, never whether the brain acted.
      const code = functionErrorCode(errorType);
      logger.error('brain function error', {
        request_id: request.request_id,
        code,
        function_error: result.FunctionError,
        error_type: errorType,
        payload: text.slice(0, 2000),
      });
      // A function error means the brain's code ran, whatever its type says (a `RateLimitError`
      // thrown by the brain's own provider call may come after it paid): always in doubt, like
      // an answer outside the contract (SPEC §3). Only Lambda's 429 on the Invoke proves otherwise.
      throw new BrainCallError(code, true, new Error(errorType || result.FunctionError));
    }

    let payload: unknown;
    try {
      // A streaming brain writes its events even when invoked plainly (Lambda buffers them).
      payload = answerOfStreamText(text) ?? JSON.parse(text);
    } catch (error) {
      logger.error('brain answered non-JSON', {
        request_id: request.request_id,
        payload: text.slice(0, 2000),
      });
      throw new BrainCallError('brain_error', true, error);
    }
    const parsed = brainAnswerSchema.safeParse(payload);
    if (!parsed.success) {
      logger.error('brain answer outside the contract', {
        request_id: request.request_id,
        issues: parsed.error.issues.slice(0, 20).map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      });
      throw new BrainCallError('brain_error', true, parsed.error);
    }
    if (!('decision' in parsed.data)) {
      logger.error('brain reported a failure', {
        request_id: request.request_id,
        brain_error: parsed.data.error,
        brain_message: parsed.data.message,
      });
      // The brain says it failed: it did not act, and a retry may follow at once.
      throw new BrainCallError('brain_error', false, new Error(parsed.data.message));
    }
    return parsed.data;
  };
}
