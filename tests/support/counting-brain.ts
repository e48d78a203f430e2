/**
 * The real reference brain, counted: functions/reference-brain/handler.ts loaded the way the
 * local stack loads it, wrapped to record every invocation (its request_id, user_id, agent_id,
 * model) and the answer or error it gave, so a test can count brain invocations exactly and
 * compare payment_ids. Passed to the stack as `handlerOverrides['reference-brain']`.
 *
 * One scripted slowness, nothing else changed: a request with agent_id `slow-once` stalls
 * `slowFirstMs` (past the requests function's brain wait) on the FIRST invocation of its
 * request_id, then answers for real (late: the caller already got its 504); later invocations
 * of that request_id answer at once, unless a test holds them (`holdRepeats`) to keep a retry
 * running while concurrent repeats arrive.
 */

import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import {
  handlerModule,
  type LambdaHandler,
  loadHandler,
  streamingLambdaHandler,
} from '../../local/functions.js';
import { answerOfStreamText } from '../../shared/adapters/brain-client.js';

export const SLOW_ONCE_AGENT = 'slow-once';

export interface BrainCall {
  requestId: string;
  userId: string;
  agentId: string | null;
  model: string;
  /** 1 for the first invocation of this request_id, 2 for the second, … */
  nth: number;
  startedAt: number;
  /** Resolves when the real brain has answered or thrown. */
  done: Promise<void>;
  answer?: unknown;
  error?: unknown;
}

export interface CountingBrain {
  handler: LambdaHandler;
  /** Every invocation of one user (each test uses its own user). */
  callsOf(userId: string): BrainCall[];
  /** The payment_id of a call's answer, once it answered (undefined for none). */
  paymentIdOf(call: BrainCall): string | undefined;
  /**
   * Holds every repeated invocation (2nd+ of a request_id) of this user until the returned
   * release is called, at most `maxMs` (keep it under the brain wait).
   */
  holdRepeats(userId: string, maxMs: number): () => void;
}

interface BrainEvent {
  request_id?: string;
  user_id?: string;
  agent_id?: string | null;
  model_name?: string;
}

export async function countingBrain(options: { slowFirstMs: number }): Promise<CountingBrain> {
  const real = await loadHandler(handlerModule('reference-brain'), { POWERTOOLS_LOG_LEVEL: 'SILENT' });
  const calls: BrainCall[] = [];
  const seen = new Map<string, number>();
  const holds = new Map<string, { released: Promise<void>; maxMs: number }>();

  // The reference brain streams (its events, or one payload): run it as such, keeping what it wrote.
  const streamed = real as unknown as (event: unknown, stream: Writable, context: Context) => Promise<void>;
  const handler: LambdaHandler = streamingLambdaHandler(async (event, responseStream, context) => {
    const fields = (event ?? {}) as BrainEvent;
    const requestId = String(fields.request_id);
    const userId = String(fields.user_id);
    const nth = (seen.get(requestId) ?? 0) + 1;
    seen.set(requestId, nth);
    let finish: () => void = () => undefined;
    const call: BrainCall = {
      requestId,
      userId,
      agentId: fields.agent_id ?? null,
      model: String(fields.model_name),
      nth,
      startedAt: Date.now(),
      done: new Promise<void>((resolve) => {
        finish = resolve;
      }),
    };
    calls.push(call);
    try {
      if (call.agentId === SLOW_ONCE_AGENT && nth === 1) await sleep(options.slowFirstMs);
      const hold = holds.get(userId);
      if (hold && nth > 1) await Promise.race([hold.released, sleep(hold.maxMs)]);
      const written: Buffer[] = [];
      const write = responseStream.write.bind(responseStream) as (...args: unknown[]) => boolean;
      responseStream.write = ((chunk: unknown, ...rest: unknown[]) => {
        written.push(Buffer.from(chunk as Uint8Array));
        return write(chunk, ...rest);
      }) as typeof responseStream.write;
      await streamed(event, responseStream, context);
      const text = Buffer.concat(written).toString('utf8');
      call.answer = answerOfStreamText(text) ?? JSON.parse(text);
    } catch (error) {
      call.error = error;
      throw error;
    } finally {
      finish();
    }
  });

  return {
    handler,
    callsOf: (userId) => calls.filter((call) => call.userId === userId),
    paymentIdOf: (call) =>
      (call.answer as { payment?: { payment_id?: string } | null } | undefined)?.payment?.payment_id,
    holdRepeats(userId, maxMs) {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.set(userId, { released, maxMs });
      return () => {
        holds.delete(userId);
        release();
      };
    },
  };
}
