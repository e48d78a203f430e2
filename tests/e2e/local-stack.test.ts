/**
 * The `startLocalStack` API that benchmarks and fault tests build on: a stack with its own
 * DynamoDB Local can stop and restart it (same port, empty tables), the API fails closed
 * while it is down, and `stop()` leaves no Java process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { CHAT_BODY, callApi, expectEnvelope, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
const body = JSON.stringify(CHAT_BODY);

beforeAll(async () => {
  stack = await startTestStack({ dynamodbEndpoint: undefined, dynamodbPort: 0, seedDemo: true });
});

afterAll(async () => {
  await stack?.stop();
});

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startLocalStack with its own DynamoDB Local', () => {
  it('serves the seeded demo key', async () => {
    const answer = await callApi(stack, { headers: jsonHeaders(stack.demo?.apiKey), body });

    expect(answer.status).toBe(200);
    expect(stack.dynamo?.pid).toBeGreaterThan(0);
  });

  it('fails closed (401, never an Allow or a hang) while DynamoDB is down', async () => {
    await stack.dynamo?.stop();
    const started = Date.now();

    const answer = await callApi(stack, { headers: jsonHeaders(stack.demo?.apiKey), body });

    expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toBe(
      'API key could not be verified right now; retry shortly.',
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('restarts DynamoDB Local on the same port with empty tables', async () => {
    const endpoint = stack.dynamodbEndpoint;

    await stack.dynamo?.restart();
    const answer = await callApi(stack, { headers: jsonHeaders(stack.demo?.apiKey), body });

    expect(stack.dynamodbEndpoint).toBe(endpoint);
    expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toBe('Invalid API key.');
  });

  it('stops everything it started, Java included, and can be stopped twice', async () => {
    const pid = stack.dynamo?.pid ?? 0;

    await stack.stop();
    await stack.stop();

    expect(pid).toBeGreaterThan(0);
    expect(processAlive(pid)).toBe(false);
    await expect(callApi(stack, { headers: jsonHeaders(), body })).rejects.toThrow(/ECONNREFUSED/);
  });
});
