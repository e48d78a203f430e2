/** AWS SDK helpers for tests: count the commands a client sends, find a port nothing listens on. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';

export interface CountingClient {
  doc: DynamoDBDocumentClient;
  /** Command names in the order they were sent (one entry per logical call, retries not counted). */
  calls: string[];
  reset(): void;
}

/** A document client on `endpoint` with a middleware recording every command it sends. */
export function countingDocumentClient(
  endpoint: string,
  options: Parameters<typeof createDocumentClient>[0] = {},
): CountingClient {
  const doc = createDocumentClient({ ...options, endpoint });
  const calls: string[] = [];
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'testCallCounter' },
  );
  return {
    doc,
    calls,
    reset: () => {
      calls.length = 0;
    },
  };
}
