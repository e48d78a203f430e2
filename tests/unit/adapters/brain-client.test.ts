import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
  ServiceException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../functions/reference-brain/brain.js';
import { createLambdaClient } from '../../../shared/adapters/aws-clients.js';
import { classifyInvokeFailure, createBrainClient } from '../../../shared/adapters/brain-client.js';
import { BrainCallError } from '../../../shared/domain/requests/ports.js';
import { DEFAULT_MESSAGES, HttpError } from '../../../shared/errors.js';
import { brainRequest, invokeOutput } from '../../support/brain.js';
import { recordingLogger } from '../../support/logs.js';

// Only this instance is mocked; the timeout test below uses a real client.
const lambda = new LambdaClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const lambdaMock = mockClient(lambda);
afterEach(() => lambdaMock.reset());

function client(timeoutMs = 1000) {
  const log = recordingLogger();
  const invokeBrain = createBrainClient({
    lambda,
    functionName: 'brain',
    timeoutMs,
    logger: log.logger,
  });
  return { invokeBrain, log };
}

/** The HttpError the brain client threw, checked to show nothing but the generic message. */
async function failureOf(promise: Promise<unknown>, internals: string[] = []): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(HttpError);
  const httpError = error as HttpError;
  expect(httpError.expose).toBe(false);
  expect(httpError.publicMessage()).toBe(DEFAULT_MESSAGES[httpError.code]);
  for (const internal of internals) expect(httpError.publicMessage()).not.toContain(internal);
  return httpError;
}

describe('a brain answer inside the contract', () => {
  it('is returned as the decision, after one RequestResponse Invoke of the configured function', async () => {
    const request = brainRequest();
    const answer = await referenceBrain(request);
    lambdaMock.on(InvokeCommand).resolves(invokeOutput(answer));
    const { invokeBrain } = client();

    const decision = await invokeBrain(request);

    expect(decision).toEqual(answer);
    const [call] = lambdaMock.commandCalls(InvokeCommand);
    expect(call?.args[0].input).toMatchObject({ FunctionName: 'brain', InvocationType: 'RequestResponse' });
    expect(JSON.parse(String(call?.args[0].input.Payload))).toEqual(request);
  });

  it('passes a rejected decision through as a decision, not an error', async () => {
    const request = brainRequest({ api_provider: 'reference', model_name: 'test-reject' });
    lambdaMock.on(InvokeCommand).resolves(invokeOutput(await referenceBrain(request)));

    const decision = await client().invokeBrain(request);

    expect(decision.decision.outcome).toBe('rejected');
    expect(decision.success).toBe(false);
  });
});

describe('brain failures map to 502, 503 and 504 without internals', () => {
  it.each([
    [
      'a function error',
      invokeOutput({ errorType: 'Error', errorMessage: 'db password wrong' }, { FunctionError: 'Unhandled' }),
      502,
      'db password wrong',
      true,
    ],
    [
      'a function error whose payload is not JSON',
      invokeOutput('Segmentation fault', { FunctionError: 'Unhandled' }),
      502,
      'Segmentation',
      true,
    ],
    // A function error means the brain's code ran and may have paid, whatever its type says.
    [
      'a function error of type TooManyRequestsException (the brain ran: in doubt)',
      invokeOutput(
        { errorType: 'TooManyRequestsException', errorMessage: 'slow down' },
        { FunctionError: 'Unhandled' },
      ),
      503,
      'slow down',
      true,
    ],
    [
      'a function error of type RateLimitError (the brain ran: in doubt)',
      invokeOutput(
        { errorType: 'RateLimitError', errorMessage: 'slow down' },
        { FunctionError: 'Unhandled' },
      ),
      503,
      'slow down',
      true,
    ],
    [
      'a function error of type ThrottlingException (the brain ran: in doubt)',
      invokeOutput(
        { errorType: 'ThrottlingException', errorMessage: 'slow down' },
        { FunctionError: 'Unhandled' },
      ),
      503,
      'slow down',
      true,
    ],
    [
      'a Lambda timeout of the brain function',
      invokeOutput(
        { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 30.00 seconds' },
        { FunctionError: 'Unhandled' },
      ),
      504,
      'Task timed out',
      true,
    ],
    ['a payload that is not JSON', invokeOutput('<html>oops</html>'), 502, 'oops', true],
    ['an empty payload', invokeOutput(''), 502, '', true],
    [
      'an answer outside the zod schema',
      invokeOutput({ success: 'maybe', verdict: 'secret verdict' }),
      502,
      'secret verdict',
      true,
    ],
    [
      'a decision with an unknown outcome',
      invokeOutput({
        success: true,
        decision: { decision_id: 'd', outcome: 'maybe', reasoning: 'r', confidence: 0.5 },
        response: null,
        payment: null,
        message: 'm',
      }),
      502,
      'maybe',
      true,
    ],
    [
      'a brain-side failure {success:false, error, message}',
      invokeOutput({ success: false, error: { code: 'ledger_down' }, message: 'ledger unreachable' }),
      502,
      'ledger',
      false,
    ],
  ])('%s → %i (brain may have acted: %s)', async (_case, output, status, internal, mayHaveActed) => {
    lambdaMock.on(InvokeCommand).resolves(output);
    const { invokeBrain, log } = client();

    const error = await failureOf(invokeBrain(brainRequest()), internal ? [internal] : []);

    expect(error.status).toBe(status);
    expect((error as BrainCallError).brainMayHaveActed).toBe(mayHaveActed);
    expect(log.records.filter((record) => record.level === 'error')).toHaveLength(1);
  });

  it.each([
    [
      'TooManyRequestsException from the SDK',
      new TooManyRequestsException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } }),
      503,
      false,
    ],
    [
      'any SDK error with HTTP status 429',
      Object.assign(new Error('slow'), { $metadata: { httpStatusCode: 429 } }),
      503,
      false,
    ],
    [
      'an SDK error named like a throttle without HTTP 429 (not Lambda refusing the Invoke)',
      Object.assign(new Error('rate limit'), { name: 'RateLimitError', $metadata: { httpStatusCode: 502 } }),
      502,
      true,
    ],
    [
      'an aborted call (our timeout)',
      Object.assign(new Error('Request aborted'), { name: 'AbortError' }),
      504,
      true,
    ],
    ['a socket timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), 504, true],
    [
      'an unknown function',
      new ResourceNotFoundException({ message: 'Function not found: arn:aws:lambda:…', $metadata: {} }),
      502,
      false,
    ],
    ['a Lambda service error', new ServiceException({ message: 'internal', $metadata: {} }), 502, true],
    [
      'a lost answer (socket reset)',
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      502,
      true,
    ],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
      502,
      false,
    ],
  ])('%s → %i, brain may have acted: %s', async (_case, thrown, status, mayHaveActed) => {
    lambdaMock.on(InvokeCommand).rejects(thrown);

    const error = await failureOf(client().invokeBrain(brainRequest()), [thrown.message]);

    expect(error.status).toBe(status);
    expect(error).toBeInstanceOf(BrainCallError);
    expect((error as BrainCallError).brainMayHaveActed).toBe(mayHaveActed);
  });

  it('classifies a failure by name, status or message without throwing on odd values', () => {
    expect(classifyInvokeFailure(null).code).toBe('brain_error');
    expect(classifyInvokeFailure('boom').code).toBe('brain_error');
    expect(classifyInvokeFailure(new Error('operation timed out')).code).toBe('brain_timeout');
  });

  it('passes an abort signal with the configured timeout to the SDK', async () => {
    lambdaMock.on(InvokeCommand).resolves(invokeOutput(await referenceBrain(brainRequest())));

    await client(1234).invokeBrain(brainRequest());

    const options = (lambdaMock.send.firstCall.args as unknown[])[1] as
      | { abortSignal?: AbortSignal }
      | undefined;
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });
});

describe('a brain that does not answer in time', () => {
  let server: Server;
  let endpoint = '';

  beforeAll(async () => {
    // Accepts the Invoke and never answers.
    server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  it('is abandoned at the timeout with 504 brain_timeout', async () => {
    const log = recordingLogger();
    const invokeBrain = createBrainClient({
      lambda: createLambdaClient({ endpoint, requestTimeoutMs: 5000 }),
      functionName: 'brain',
      timeoutMs: 300,
      logger: log.logger,
    });
    const started = Date.now();

    const error = await failureOf(invokeBrain(brainRequest()));

    expect(error.status).toBe(504);
    expect(error.code).toBe('brain_timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
