/**
 * Test run setup: one DynamoDB Local for the whole run (tests use their own table
 * prefixes), and a folder where every worker's output is captured; the teardown fails
 * the run if any plaintext key appears in that output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type RunningDynamoDb, startDynamoDbLocal } from '../../local/dynamodb.js';
import { findPlaintextKeys } from './secret-scan.js';

let dynamo: RunningDynamoDb | undefined;
let logDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  logDir = mkdtempSync(join(tmpdir(), 'keygate-test-logs-'));
  project.provide('testLogDir', logDir);
  dynamo = await startDynamoDbLocal();
  project.provide('dynamodbEndpoint', dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
  if (!logDir) return;
  const findings = findPlaintextKeys(logDir);
  if (findings.length > 0) {
    const where = findings
      .slice(0, 20)
      .map((finding) => `${finding.file}:${finding.line} (key hash ${finding.hashPrefix}…)`)
      .join('\n  ');
    // Keep the logs for inspection when the scan fails; vitest does not fail the run for a
    // teardown error by itself, so set the exit code too.
    process.exitCode = 1;
    throw new Error(
      `Plaintext API keys found in the test run's logs (${findings.length}):\n  ${where}\nlogs: ${logDir}`,
    );
  }
  rmSync(logDir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
    testLogDir: string;
  }
}
