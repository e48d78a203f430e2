/**
 * The requests function's real handler for unit tests: its environment set, the Lambda and
 * DynamoDB clients mocked with aws-sdk-client-mock (the brain answers as the reference brain
 * does), wired into vitest's hooks. Call once at the top level of a test file.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { referenceBrainInvoke } from './brain.js';

type RequestsHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface RequestsHandlerOptions {
  /** Every DynamoDB call succeeds unless a test says otherwise (idempotency claims pass). */
  dynamoSucceeds?: boolean;
}

export function requestsHandlerUnderTest(options: RequestsHandlerOptions = {}) {
  const lambdaMock = mockClient(LambdaClient);
  const dynamoMock = mockClient(DynamoDBDocumentClient);
  let loaded: RequestsHandler | undefined;

  beforeAll(async () => {
    process.env.IDEMPOTENCY_TABLE = 'unit-idempotency';
    process.env.BUDGETS_TABLE = 'unit-budgets';
    process.env.BRAIN_FUNCTION_NAME = 'reference-brain';
    process.env.BRAIN_TIMEOUT_MS = '1000';
    // Thousands of generated requests: keep the run readable (tests/integration/domain/keys/logging.test.ts checks logs).
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    ({ answer: loaded } = await import('../../functions/requests/handler.js'));
  });
  afterAll(() => {
    delete process.env.POWERTOOLS_LOG_LEVEL;
    lambdaMock.restore();
    dynamoMock.restore();
  });
  beforeEach(() => {
    lambdaMock.reset();
    dynamoMock.reset();
    lambdaMock
      .on(InvokeCommand)
      .callsFake((input: { Payload?: unknown }) => referenceBrainInvoke(input.Payload));
    if (options.dynamoSucceeds) dynamoMock.onAnyCommand().resolves({});
  });

  const handler: RequestsHandler = (event, context) => {
    if (!loaded) throw new Error('the requests handler is loaded in beforeAll');
    return loaded(event, context);
  };
  return { lambdaMock, dynamoMock, handler };
}
