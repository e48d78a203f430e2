import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient, createLambdaClient } from '../../../shared/adapters/aws-clients.js';

/** A server that accepts every request and never answers. */
let silent: Server;
let endpoint = '';
beforeAll(async () => {
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      silent.closeAllConnections();
      silent.close(() => resolve());
    }),
);

async function elapsedFailure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await call().then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  return { error, ms: Date.now() - started };
}

describe('SDK clients against a peer that never answers', () => {
  it('the DynamoDB client gives up after requestTimeoutMs instead of hanging', async () => {
    const doc = createDocumentClient({ endpoint, requestTimeoutMs: 300, maxAttempts: 1 });

    const { error, ms } = await elapsedFailure(() =>
      doc.send(new GetCommand({ TableName: 't', Key: { id: 'x' } })),
    );
    doc.destroy();

    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(ms).toBeLessThan(2000);
  });

  it('the Lambda client gives up after requestTimeoutMs instead of hanging', async () => {
    const lambda = createLambdaClient({ endpoint, requestTimeoutMs: 300 });

    const { error, ms } = await elapsedFailure(() =>
      lambda.send(new InvokeCommand({ FunctionName: 'brain' })),
    );
    lambda.destroy();

    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(ms).toBeLessThan(2000);
  });
});
