/**
 * A burst of 300 concurrent calls on one key, over real HTTPS on the local stack with the
 * reference brain (issue 23 (d)): every call is answered 200 — none reset, none a 5xx — and
 * the key counts exactly what was sent.
 *
 * The callers keep their connections alive, as fetch and the OpenAI SDK do, and so do the
 * requests function's SDK clients (to the local Invoke API and DynamoDB Local). A warm-up
 * wave opens connections; the burst comes while they have been idle for seconds, so it picks
 * many of them up again 4–6 s after their last answer: where the servers' former keep-alive
 * timeout (5 s, +1 s in Node) met the clients' idle limit (the server's hint − 1 s) and a
 * loaded event loop let the server close a connection a client had just sent on.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { CHAT_BODY, jsonHeaders, readAnswer } from './support/https.js';
import { startTestStack } from './support/stack.js';

const BURST = 300;
const WARM_UP = 50;
/** Long enough that, with the burst's own queueing, connections are reused 4–6 s after their last answer. */
const PAUSE_MS = 3500;

let stack: LocalStack;
let admin: KeysAdminClient;
let callers: Agent;
const requestLines: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ log: (line) => requestLines.push(line) });
  admin = keysAdminClient(stack.lambdaUrl);
  callers = new Agent({ keepAlive: true, maxSockets: BURST, ca: stack.caCertPem });
});

afterAll(async () => {
  callers?.destroy();
  admin?.close();
  await stack?.stop();
});

/** One call's outcome: its status and error code, or the transport failure (a reset, a hang-up). */
function oneCall(apiKey: string): Promise<string> {
  return new Promise((resolve) => {
    const outgoing = request(
      new URL('/v1/chat/completions', stack.apiUrl),
      { method: 'POST', headers: jsonHeaders(apiKey), agent: callers },
      (response) =>
        readAnswer(response).then(
          (answer) => {
            const code = (answer.json as { error?: { code?: string } } | undefined)?.error?.code;
            resolve(code ? `${answer.status} ${code}` : String(answer.status));
          },
          (error: NodeJS.ErrnoException) => resolve(`transport ${error.code ?? error.message}`),
        ),
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) =>
      resolve(`transport ${error.code ?? error.message}`),
    );
    outgoing.end(JSON.stringify({ model: CHAT_BODY.model, messages: CHAT_BODY.messages }));
  });
}

const wave = (apiKey: string, size: number) =>
  Promise.all(Array.from({ length: size }, () => oneCall(apiKey)));

/** How many calls came to each outcome. */
function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

describe('a burst of concurrent calls on one key', () => {
  it(`answers all ${BURST} with 200 and counts every call exactly once`, { timeout: 120_000 }, async () => {
    const { userId, keyId, apiKey } = await admin.createUserWithKey(`burst-${randomUUID().slice(0, 8)}`);
    expect(tally(await wave(apiKey, WARM_UP))).toEqual({ '200': WARM_UP });
    await sleep(PAUSE_MS);

    const outcomes = await wave(apiKey, BURST);

    // The stack's own lines name what failed (a 504 after a reset of the Invoke API, say).
    const failedLines = requestLines.filter((line) => !/^POST \/v1\/chat\/completions 200 /.test(line));
    expect({ outcomes: tally(outcomes), failedLines: failedLines.slice(0, 10) }).toEqual({
      outcomes: { '200': BURST },
      failedLines: [],
    });
    expect((await admin.getKey(userId, keyId)).usageCount).toBe(WARM_UP + BURST);
  });
});
