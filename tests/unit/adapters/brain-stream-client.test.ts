import {
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamResponseEvent,
  LambdaClient,
  ResourceNotFoundException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createBrainStreamClient } from '../../../shared/adapters/brain-stream-client.js';
import type { BrainStreamEvent } from '../../../shared/domain/brain/stream.js';
import { BrainCallError } from '../../../shared/domain/requests/ports.js';
import { brainRequest } from '../../support/brain.js';
import { recordingLogger } from '../../support/logs.js';

const lambda = new LambdaClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const lambdaMock = mockClient(lambda);
afterEach(() => lambdaMock.reset());

const encoder = new TextEncoder();
const decision = { decision_id: 'dec-1', outcome: 'approved', reasoning: 'fine', confidence: 0.9 };
const payment = {
  payment_id: 'pay-1',
  transaction_hash: null,
  estimated_amount: 0.01,
  actual_amount: 0.01,
  variance_amount: 0,
  variance_percent: 0,
  currency: 'USD',
  status: 'settled',
};
const line = (value: unknown) => `${JSON.stringify(value)}\n`;
const DECISION = line({ type: 'decision', decision });
const DELTA = line({ type: 'delta', content: 'Hel' });
const FINAL = line({ type: 'final', success: true, payment, message: 'ok' });

type Step = string | { complete: { ErrorCode?: string; ErrorDetails?: string } } | { pauseMs: number };

/** An EventStream as the SDK yields it; `released` turns true when the reader stops early. */
function eventStream(steps: Step[]) {
  const state = { released: false };
  async function* events(): AsyncGenerator<InvokeWithResponseStreamResponseEvent> {
    try {
      for (const step of steps) {
        if (typeof step === 'string') yield { PayloadChunk: { Payload: encoder.encode(step) } };
        else if ('pauseMs' in step) await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
        else yield { InvokeComplete: step.complete };
      }
      // Lambda ends every stream with one InvokeComplete.
      if (!steps.some((step) => typeof step === 'object' && 'complete' in step)) yield { InvokeComplete: {} };
    } finally {
      state.released = true;
    }
  }
  return { stream: events(), state };
}

function respond(steps: Step[]) {
  const { stream, state } = eventStream(steps);
  lambdaMock.on(InvokeWithResponseStreamCommand).resolves({ StatusCode: 200, EventStream: stream });
  return state;
}

function client(timeoutMs = 1000) {
  const log = recordingLogger();
  return {
    stream: createBrainStreamClient({ lambda, functionName: 'brain', timeoutMs, logger: log.logger }),
    log,
  };
}

async function collect(iterable: AsyncIterable<BrainStreamEvent>) {
  const events: BrainStreamEvent[] = [];
  try {
    for await (const event of iterable) events.push(event);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as BrainCallError };
  }
}

describe('reading the events', () => {
  it('splits NDJSON lines that span chunks and yields decision, deltas, final in order', async () => {
    const all = DECISION + DELTA + line({ type: 'delta', content: 'lo' }) + FINAL;
    respond([all.slice(0, 10), all.slice(10, 130), all.slice(130)]);

    const { events, error } = await collect(client().stream(brainRequest()));

    expect(error).toBeUndefined();
    expect(events.map((event) => event.type)).toEqual(['decision', 'delta', 'delta', 'final']);
    expect(events[1]).toEqual({ type: 'delta', content: 'Hel' });
  });

  it('accepts a final event without a trailing newline', async () => {
    respond([DECISION, FINAL.trimEnd()]);

    const { events, error } = await collect(client().stream(brainRequest()));

    expect(error).toBeUndefined();
    expect(events.map((event) => event.type)).toEqual(['decision', 'final']);
  });

  it('reads one ordinary JSON payload (a buffered brain) as decision, one delta and final', async () => {
    const answer = JSON.stringify({
      success: true,
      decision,
      response: { content: 'Hello' },
      payment,
      message: 'ok',
    });
    respond([answer.slice(0, 20), answer.slice(20)]);

    const { events, error } = await collect(client().stream(brainRequest()));

    expect(error).toBeUndefined();
    expect(events).toEqual([
      { type: 'decision', decision },
      { type: 'delta', content: 'Hello' },
      { type: 'final', success: true, payment, message: 'ok' },
    ]);
  });

  it('reads a brain-side failure payload as brain_error, the brain not having acted', async () => {
    respond([JSON.stringify({ success: false, error: 'provider_down', message: 'no' })]);

    const { error } = await collect(client().stream(brainRequest()));

    expect(error).toBeInstanceOf(BrainCallError);
    expect(error).toMatchObject({ code: 'brain_error', brainMayHaveActed: false });
  });
});

describe('answers outside the contract are brain_error, in doubt', () => {
  it.each([
    ['a delta before the decision', [DELTA, DECISION, FINAL]],
    ['an event after the final', [DECISION, FINAL, DELTA]],
    ['two decisions', [DECISION, DECISION, FINAL]],
    ['no final', [DECISION, DELTA]],
    ['an event outside the schema', [DECISION, line({ type: 'delta', content: 42 }), FINAL]],
    ['a line that is no JSON after the decision', [DECISION, 'not json\n', FINAL]],
    ['an ordinary payload outside the contract', [line({ success: true, decision: { outcome: 'maybe' } })]],
    ['nothing at all', []],
  ] as Array<[string, Step[]]>)('%s', async (_name, steps) => {
    respond(steps);

    const { error } = await collect(client().stream(brainRequest()));

    expect(error).toBeInstanceOf(BrainCallError);
    expect(error).toMatchObject({ code: 'brain_error', brainMayHaveActed: true });
  });
});

describe('failures', () => {
  it.each([
    ['Error', 'brain_error'],
    ['Sandbox.Timedout', 'brain_timeout'],
    ['ThrottlingError', 'brain_unavailable'],
  ])(
    'a function error %s in InvokeComplete is %s, in doubt, after the events before it',
    async (type, code) => {
      respond([DECISION, DELTA, { complete: { ErrorCode: type, ErrorDetails: 'detail' } }]);
      const { stream, log } = client();

      const { events, error } = await collect(stream(brainRequest()));

      expect(events.map((event) => event.type)).toEqual(['decision', 'delta']);
      expect(error).toMatchObject({ code, brainMayHaveActed: true });
      expect(log.records.at(-1)).toMatchObject({
        message: 'brain function error',
        attributes: { function_error: type },
      });
    },
  );

  it('classifies a refused Invoke as the buffered client does', async () => {
    lambdaMock
      .on(InvokeWithResponseStreamCommand)
      .rejectsOnce(
        new TooManyRequestsException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } }),
      )
      .rejectsOnce(
        new ResourceNotFoundException({ message: 'Function not found', $metadata: { httpStatusCode: 404 } }),
      );
    const { stream } = client();

    expect((await collect(stream(brainRequest()))).error).toMatchObject({
      code: 'brain_unavailable',
      brainMayHaveActed: false,
    });
    expect((await collect(stream(brainRequest()))).error).toMatchObject({
      code: 'brain_error',
      brainMayHaveActed: false,
    });
  });

  it('times out when the decision does not come within timeoutMs', async () => {
    const state = respond([{ pauseMs: 500 }, DECISION, FINAL]);

    const started = Date.now();
    const { events, error } = await collect(client(100).stream(brainRequest()));

    expect(Date.now() - started).toBeLessThan(400);
    expect(events).toEqual([]);
    expect(error).toMatchObject({ code: 'brain_timeout', brainMayHaveActed: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(state.released).toBe(true);
  });

  it('times out between events too, but not while the consumer works', async () => {
    respond([DECISION, { pauseMs: 300 }, FINAL]);
    const { stream } = client(150);
    const events: string[] = [];

    let failure: unknown;
    try {
      for await (const event of stream(brainRequest())) {
        events.push(event.type);
        // The consumer's own time is not the brain's.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } catch (error) {
      failure = error;
    }

    expect(events).toEqual(['decision']);
    expect(failure).toMatchObject({ code: 'brain_timeout', brainMayHaveActed: true });
  });

  it('logs the failure with the request id and no request content', async () => {
    respond([DELTA]);
    const { stream, log } = client();

    await collect(
      stream(brainRequest({ request_params: { messages: [{ role: 'user', content: 'secret words' }] } })),
    );

    expect(log.records[0]).toMatchObject({
      level: 'error',
      attributes: { request_id: 'req-0001', code: 'brain_error' },
    });
    expect(log.text()).not.toContain('secret words');
  });
});

describe('the consumer stopping early', () => {
  it('releases the stream when the iteration ends after the decision', async () => {
    const state = respond([DECISION, { pauseMs: 50 }, DELTA, FINAL]);

    for await (const event of client().stream(brainRequest())) {
      expect(event.type).toBe('decision');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(state.released).toBe(true);
  });
});
