/**
 * AWS SDK clients, created once per container and reused by every invocation. Endpoints
 * are overridable so the same code talks to DynamoDB Local and the local Invoke API.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ProvenUnappliedRetryStrategy } from './dynamodb/write-retries.js';

/** Anything that instruments an SDK client (Powertools Tracer's captureAWSv3Client). */
export interface ClientInstrumentation {
  captureAWSv3Client<T>(client: T): T;
}

export interface ClientOptions {
  endpoint?: string;
  region?: string;
  /** Milliseconds to wait for a connection and for an answer; bounded so nothing hangs. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  instrumentation?: ClientInstrumentation | undefined;
}

/** Local endpoints need some credentials; real AWS uses the function's role. */
function localCredentials(endpoint: string | undefined) {
  return endpoint && !process.env.AWS_ACCESS_KEY_ID
    ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
    : {};
}

export function createDocumentClient(options: ClientOptions = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...localCredentials(options.endpoint),
    // Only failures that prove nothing was applied are retried: a write answered late is
    // never applied twice (docs/decisions/0011-exact-under-late-answers.md).
    retryStrategy: new ProvenUnappliedRetryStrategy(options.maxAttempts ?? 3),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.connectionTimeoutMs ?? 1000,
      requestTimeout: options.requestTimeoutMs ?? 3000,
      // Without it @smithy/node-http-handler only warns when requestTimeout passes, and a
      // DynamoDB that accepts but never answers hangs the caller until the Lambda times out.
      throwOnRequestTimeout: true,
    }),
  });
  options.instrumentation?.captureAWSv3Client(client);
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function createLambdaClient(options: ClientOptions = {}): LambdaClient {
  const client = new LambdaClient({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...localCredentials(options.endpoint),
    // The brain pays money: never retry an Invoke behind the caller's back.
    maxAttempts: options.maxAttempts ?? 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.connectionTimeoutMs ?? 2000,
      requestTimeout: options.requestTimeoutMs ?? 25_000,
      throwOnRequestTimeout: true,
    }),
  });
  options.instrumentation?.captureAWSv3Client(client);
  return client;
}
