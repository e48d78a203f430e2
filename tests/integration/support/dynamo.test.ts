/** The per-file test tables (tests/support/dynamo.ts): dropping them leaves no connection open. */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestTables } from '../../support/dynamo.js';

/** A TCP relay to DynamoDB Local that counts the connections still open through it. */
let relay: Server;
let relayEndpoint: string;
const open = new Set<Socket>();

beforeAll(async () => {
  const target = new URL(inject('dynamodbEndpoint'));
  relay = createServer((client) => {
    open.add(client);
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    client.pipe(upstream).pipe(client);
    const end = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const address = relay.address();
  if (typeof address !== 'object' || address === null) throw new Error('relay has no port');
  relayEndpoint = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const socket of open) socket.destroy();
  await new Promise((resolve) => relay.close(resolve));
});

/** A connection the client closed ends at the relay a moment later: wait for the count, briefly. */
async function openAfterSettling(): Promise<number> {
  for (let tries = 0; tries < 50 && open.size > 0; tries += 1) await sleep(20);
  return open.size;
}

describe('createTestTables', () => {
  it('drop() closes the connections of its document client, not only of its raw client', async () => {
    const tables = await createTestTables('support', relayEndpoint);
    // A request through the document client keeps a keep-alive connection of its own.
    await tables.doc.send(
      new GetCommand({ TableName: tables.names.apiKeys, Key: { key_hash: 'none' }, ConsistentRead: true }),
    );
    expect(open.size).toBeGreaterThanOrEqual(2);

    await tables.drop();

    expect(await openAfterSettling()).toBe(0);
  });
});
