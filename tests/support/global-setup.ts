/** Starts one DynamoDB Local for the whole test run (tests use their own table prefixes). */
import type { TestProject } from 'vitest/node';
import { type RunningDynamoDb, startDynamoDbLocal } from '../../local/dynamodb.js';

let dynamo: RunningDynamoDb | undefined;

export async function setup(project: TestProject): Promise<void> {
  dynamo = await startDynamoDbLocal();
  project.provide('dynamodbEndpoint', dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}
