/**
 * The brain stream client against the local Invoke API, unchanged SDK in between, with real
 * streaming handlers on the awslambda emulation: events arrive as the brain writes them,
 * failures map as on AWS, and a consumer that stops releases the HTTP stream.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaHandler, type LocalFunction, streamingLambdaHandler } from '../../../local/functions.js';
import { createInvokeServer } from '../../../local/lambda-server.js';
import { closeServer } from '../../../local/ports.js';
import { createLambdaClient } from '../../../shared/adapters/aws-clients.js';
import { createBrainStreamClient } from '../../../shared/adapters/brain-stream-client.js';
import type { BrainStreamEvent } from '../../../shared/domain/brain/stream.js';
import { brainRequest } from '../../support/brain.js';
import { recordingLogger } from '../../support/logs.js';

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

/** Opened by the test once it holds the decision: the brain writes the rest only then. */
let releaseRest: () => void = () => undefined;
let restWritten = false;

const functions = new Map<string, LocalFunction>();
const fn = (name: string, handler: LambdaHandler) => functions.set(name, { name, handler, timeoutMs: 5000 });
fn(
  'gated-brain',
  streamingLambdaHandler(async (_event, stream) => {
    const gate = new Promise<void>((resolve) => {
      releaseRest = resolve;
    });
    stream.write(line({ type: 'decision', decision }));
    await gate;
    stream.write(line({ type: 'delta', content: 'Hel' }));
    stream.write(line({ type: 'delta', content: 'lo' }).slice(0, 5));
    await sleep(20);
    stream.write(line({ type: 'delta', content: 'lo' }).slice(5));
    stream.end(line({ type: 'final', success: true, payment, message: 'ok' }));
    restWritten = true;
  }),
);
fn(
  'failing-brain',
  streamingLambdaHandler(async (_event, stream) => {
    stream.write(line({ type: 'decision', decision }));
    throw new Error('provider broke');
  }),
);
fn('buffered-brain', async () => ({ success: true, decision, response: 'Hi', payment, message: 'ok' }));
fn(
  'endless-brain',
  streamingLambdaHandler(async (_event, stream) => {
    stream.write(line({ type: 'decision', decision }));
    for (let index = 0; index < 100; index += 1) {
      await sleep(20);
      stream.write(line({ type: 'delta', content: `${index}` }));
    }
    stream.end(line({ type: 'final', success: true, payment, message: 'ok' }));
  }),
);

let server: Server;
let endpoint: string;
const clients: LambdaClient[] = [];

beforeAll(async () => {
  server = createInvokeServer({ functions });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  if (server) await closeServer(server);
});

function brain(functionName: string) {
  const lambda = createLambdaClient({ endpoint });
  clients.push(lambda);
  const log = recordingLogger();
  return {
    stream: createBrainStreamClient({ lambda, functionName, timeoutMs: 2000, logger: log.logger }),
    log,
  };
}

describe('the brain stream client on the local Invoke API', () => {
  it('yields the decision before the brain has written the rest', async () => {
    restWritten = false;
    const events: BrainStreamEvent[] = [];

    for await (const event of brain('gated-brain').stream(brainRequest())) {
      if (event.type === 'decision') {
        expect(restWritten).toBe(false);
        releaseRest();
      }
      events.push(event);
    }

    expect(events.map((event) => event.type)).toEqual(['decision', 'delta', 'delta', 'final']);
    expect(events[2]).toEqual({ type: 'delta', content: 'lo' });
  });

  it('maps a function error after the decision to brain_error in doubt', async () => {
    const seen: string[] = [];
    let failure: unknown;
    try {
      for await (const event of brain('failing-brain').stream(brainRequest())) seen.push(event.type);
    } catch (error) {
      failure = error;
    }

    expect(seen).toEqual(['decision']);
    expect(failure).toMatchObject({ code: 'brain_error', brainMayHaveActed: true });
  });

  it('reads a buffered brain as decision, delta and final', async () => {
    const events: BrainStreamEvent[] = [];
    for await (const event of brain('buffered-brain').stream(brainRequest())) events.push(event);

    expect(events).toEqual([
      { type: 'decision', decision },
      { type: 'delta', content: 'Hi' },
      { type: 'final', success: true, payment, message: 'ok' },
    ]);
  });

  it('an unknown function is brain_error, the brain never having run', async () => {
    let failure: unknown;
    try {
      for await (const _event of brain('no-such-brain').stream(brainRequest())) {
        // nothing arrives
      }
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({ code: 'brain_error', brainMayHaveActed: false });
  });

  it('releases the HTTP stream when the consumer stops', async () => {
    for await (const event of brain('endless-brain').stream(brainRequest())) {
      expect(event.type).toBe('decision');
      break;
    }
    // The socket was destroyed, not kept alive for reuse: the server holds no connection.
    await expect
      .poll(
        () => new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count))),
        {
          timeout: 2000,
        },
      )
      .toBe(0);
  });
});
