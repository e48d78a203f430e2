/**
 * Invokes the brain with InvokeWithResponseStream (SPEC §4 "Streaming") and reads its answer as
 * events as they arrive: newline-delimited JSON `decision` → `delta`* → `final`, or one ordinary
 * JSON payload (a buffered brain) read as those events. Every way it can fail becomes the
 * envelope's 502/503/504 with whether the brain may have acted, as the buffered client does
 * (./brain-client.ts). Details go to the log; the caller sees only the code.
 */
import {
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamCommandOutput,
  type InvokeWithResponseStreamCompleteEvent,
  type InvokeWithResponseStreamResponseEvent,
} from '@aws-sdk/client-lambda';
import { type BrainRequest, brainAnswerSchema } from '../domain/brain/contract.js';
import { answerAsEvents, type BrainStreamEvent, brainStreamEventSchema } from '../domain/brain/stream.js';
import { BrainCallError, type InvokeBrainStream } from '../domain/requests/ports.js';
import {
  type BrainClientOptions,
  type BrainErrorCode,
  classifyInvokeFailure,
  functionErrorCode,
} from './brain-client.js';

export type BrainStreamClientOptions = BrainClientOptions;

type Order = 'start' | 'decided' | 'final';

/** Where each event may come: decision first, deltas after it, one final, nothing after that. */
function nextOrder(order: Order, event: BrainStreamEvent): Order | undefined {
  if (event.type === 'decision') return order === 'start' ? 'decided' : undefined;
  if (order !== 'decided') return undefined;
  return event.type === 'final' ? 'final' : 'decided';
}

type Line =
  | { kind: 'event'; event: BrainStreamEvent }
  | { kind: 'not_an_event' }
  | { kind: 'invalid'; issues: string[] };

function readLine(line: string): Line {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { kind: 'not_an_event' };
  }
  if (parsed === null || typeof parsed !== 'object' || !('type' in parsed)) return { kind: 'not_an_event' };
  const event = brainStreamEventSchema.safeParse(parsed);
  return event.success
    ? { kind: 'event', event: event.data }
    : {
        kind: 'invalid',
        issues: event.error.issues.slice(0, 20).map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      };
}

/**
 * The domain's InvokeBrainStream port. `timeoutMs` bounds the time to the decision and every
 * wait for the next event (not the time the consumer spends between events). Ending the
 * iteration early (`break`, `return()`) releases the HTTP stream.
 */
export function createBrainStreamClient(options: BrainStreamClientOptions): InvokeBrainStream {
  const { lambda, functionName, timeoutMs, logger } = options;

  return async function* streamBrain(
    request: BrainRequest,
  ): AsyncGenerator<BrainStreamEvent, void, undefined> {
    const started = Date.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let finished = false;
    // Raced against every wait, so a stream that stalls without failing still ends at the deadline.
    let expired: Promise<never> = new Promise(() => undefined);
    const arm = () => {
      clearTimeout(timer);
      expired = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
          reject(new Error(`no brain event within ${timeoutMs} ms`));
        }, timeoutMs);
      });
      expired.catch(() => undefined);
    };
    const disarm = () => clearTimeout(timer);
    const withinDeadline = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, expired]);
    let events: AsyncIterator<InvokeWithResponseStreamResponseEvent> | undefined;

    const failure = (
      code: BrainErrorCode,
      mayHaveActed: boolean,
      cause: unknown,
      message: string,
      details: Record<string, unknown> = {},
    ): BrainCallError => {
      logger.error(message, {
        request_id: request.request_id,
        code,
        elapsed_ms: Date.now() - started,
        ...details,
      });
      return new BrainCallError(code, mayHaveActed, cause);
    };
    const timeout = (cause: unknown) =>
      failure('brain_timeout', true, cause, 'brain stream timed out', { timeout_ms: timeoutMs });
    const outsideContract = (reason: string, details: Record<string, unknown> = {}) =>
      failure('brain_error', true, new Error(reason), 'brain stream outside the contract', {
        reason,
        ...details,
      });

    // Only `ordered` moves it; read through `orderNow()` (TypeScript does not see closures assign it).
    let order: Order = 'start';
    const orderNow = (): Order => order;
    const ordered = (event: BrainStreamEvent): BrainStreamEvent => {
      const next = nextOrder(order, event);
      if (next === undefined) throw outsideContract(`a ${event.type} event after ${order}`);
      order = next;
      return event;
    };

    arm();
    try {
      let output: InvokeWithResponseStreamCommandOutput;
      try {
        output = await withinDeadline(
          lambda.send(
            new InvokeWithResponseStreamCommand({
              FunctionName: functionName,
              InvocationType: 'RequestResponse',
              Payload: JSON.stringify(request),
            }),
            { abortSignal: controller.signal },
          ),
        );
      } catch (error) {
        if (timedOut) throw timeout(error);
        const mapped = classifyInvokeFailure(error);
        throw failure(mapped.code as BrainErrorCode, mapped.brainMayHaveActed, error, 'brain invoke failed', {
          error_name: error instanceof Error ? error.name : 'unknown',
          error_message: error instanceof Error ? error.message : String(error),
        });
      }

      const decoder = new TextDecoder();
      let buffered = '';
      // A first line that is no event: the whole stream is one ordinary payload (a buffered brain).
      let onePayload = false;
      let complete: InvokeWithResponseStreamCompleteEvent | undefined;
      try {
        events = output.EventStream?.[Symbol.asyncIterator]();
        while (events) {
          const step = await withinDeadline(events.next());
          if (step.done) break;
          const message = step.value;
          if (message.InvokeComplete) complete = message.InvokeComplete;
          const bytes = message.PayloadChunk?.Payload;
          if (!bytes || bytes.length === 0) continue;
          buffered += decoder.decode(bytes, { stream: true });
          while (!onePayload) {
            const newline = buffered.indexOf('\n');
            if (newline === -1) break;
            const line = buffered.slice(0, newline);
            if (line.trim() === '') {
              buffered = buffered.slice(newline + 1);
              continue;
            }
            const read = readLine(line);
            if (read.kind === 'not_an_event' && orderNow() === 'start') {
              onePayload = true;
              break;
            }
            if (read.kind !== 'event') {
              throw outsideContract(
                read.kind === 'invalid' ? 'an event outside the schema' : 'a line that is no event',
                read.kind === 'invalid' ? { issues: read.issues } : { line: line.slice(0, 2000) },
              );
            }
            buffered = buffered.slice(newline + 1);
            const event = ordered(read.event);
            disarm();
            yield event;
            arm();
          }
        }
      } catch (error) {
        if (error instanceof BrainCallError) throw error;
        if (timedOut) throw timeout(error);
        // The stream broke after the brain started: it may have acted, whatever the cause.
        const mapped = classifyInvokeFailure(error);
        throw failure(mapped.code as BrainErrorCode, true, error, 'brain stream failed', {
          error_name: error instanceof Error ? error.name : 'unknown',
          error_message: error instanceof Error ? error.message : String(error),
        });
      }
      if (timedOut) throw timeout(new Error('the brain stream ended at its timeout'));
      buffered += decoder.decode();

      if (complete?.ErrorCode) {
        const errorType = complete.ErrorCode;
        // A function error means the brain's code ran: always in doubt (see brain-client.ts).
        throw failure(functionErrorCode(errorType), true, new Error(errorType), 'brain function error', {
          function_error: errorType,
          error_details: (complete.ErrorDetails ?? '').slice(0, 2000),
        });
      }

      const rest = buffered.trim();
      if (rest !== '') {
        const read = onePayload ? ({ kind: 'not_an_event' } as const) : readLine(rest);
        if (read.kind === 'event') {
          yield ordered(read.event);
        } else if (read.kind === 'invalid') {
          throw outsideContract('an event outside the schema', { issues: read.issues });
        } else if (orderNow() !== 'start') {
          throw outsideContract('a line that is no event', { line: rest.slice(0, 2000) });
        } else {
          let payload: unknown;
          try {
            payload = JSON.parse(rest);
          } catch (error) {
            throw failure('brain_error', true, error, 'brain answered non-JSON', {
              payload: rest.slice(0, 2000),
            });
          }
          const parsed = brainAnswerSchema.safeParse(payload);
          if (!parsed.success) {
            throw failure('brain_error', true, parsed.error, 'brain answer outside the contract', {
              issues: parsed.error.issues
                .slice(0, 20)
                .map((issue) => `${issue.path.join('.')}: ${issue.message}`),
            });
          }
          if (!('decision' in parsed.data)) {
            // The brain says it failed: it did not act, and a retry may follow at once.
            throw failure('brain_error', false, new Error(parsed.data.message), 'brain reported a failure', {
              brain_error: parsed.data.error,
              brain_message: parsed.data.message,
            });
          }
          for (const event of answerAsEvents(parsed.data)) {
            disarm();
            yield ordered(event);
          }
        }
      }
      if (orderNow() !== 'final') {
        throw outsideContract(`the stream ended before its final event (after ${orderNow()})`);
      }
      finished = true;
    } finally {
      disarm();
      // Left early (the consumer stopped, or a failure above): release the HTTP stream.
      if (!finished) {
        controller.abort();
        events?.return?.().catch(() => undefined);
      }
    }
  };
}
