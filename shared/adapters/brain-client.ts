/**
 * Invokes the brain Lambda (RequestResponse) and maps every way it can fail to the
 * envelope's 502/503/504. Details go to the log; the caller sees only the code.
 */
import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import { type BrainDecisionAnswer, type BrainRequest, brainAnswerSchema } from '../domain/brain/contract.js';
import type { LogSink } from '../domain/ports.js';
import type { InvokeBrain } from '../domain/requests/ports.js';
import { HttpError } from '../errors.js';

export interface BrainClientOptions {
  lambda: LambdaClient;
  functionName: string;
  timeoutMs: number;
  logger: Pick<LogSink, 'error'>;
}

const THROTTLE_NAMES = /throttl|toomanyrequests|ratelimit/i;
const TIMEOUT_NAMES = /timeout|timedout|aborterror/i;

function brainError(code: 'brain_error' | 'brain_unavailable' | 'brain_timeout', cause: unknown): HttpError {
  return new HttpError(code, undefined, undefined, { cause });
}

/** Classifies an SDK/transport failure of the Invoke call itself. */
export function classifyInvokeFailure(error: unknown): HttpError {
  const name = error instanceof Error ? error.name : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (THROTTLE_NAMES.test(name) || status === 429) return brainError('brain_unavailable', error);
  if (TIMEOUT_NAMES.test(name) || (error instanceof Error && /timed? ?out/i.test(error.message))) {
    return brainError('brain_timeout', error);
  }
  return brainError('brain_error', error);
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
      const code = THROTTLE_NAMES.test(errorType)
        ? 'brain_unavailable'
        : TIMEOUT_NAMES.test(errorType)
          ? 'brain_timeout'
          : 'brain_error';
      logger.error('brain function error', {
        request_id: request.request_id,
        code,
        function_error: result.FunctionError,
        error_type: errorType,
        payload: text.slice(0, 2000),
      });
      throw brainError(code, new Error(errorType || result.FunctionError));
    }

    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (error) {
      logger.error('brain answered non-JSON', {
        request_id: request.request_id,
        payload: text.slice(0, 2000),
      });
      throw brainError('brain_error', error);
    }
    const parsed = brainAnswerSchema.safeParse(payload);
    if (!parsed.success) {
      logger.error('brain answer outside the contract', {
        request_id: request.request_id,
        issues: parsed.error.issues.slice(0, 20).map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      });
      throw brainError('brain_error', parsed.error);
    }
    if (!('decision' in parsed.data)) {
      logger.error('brain reported a failure', {
        request_id: request.request_id,
        brain_error: parsed.data.error,
        brain_message: parsed.data.message,
      });
      throw brainError('brain_error', new Error(parsed.data.message));
    }
    return parsed.data;
  };
}
