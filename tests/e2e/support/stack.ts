/** A local stack per test file on free ports, on the run's shared DynamoDB Local with its own tables. */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { localDynamoClient } from '../../../local/dynamodb.js';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../../local/stack.js';

// The SDK's "Node 20 support ends" notice is not news to a test run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export async function startTestStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stack = await startLocalStack({
    port: 0,
    lambdaPort: 0,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    tablePrefix: `e2e-${randomUUID().slice(0, 8)}`,
    throttle: false,
    functionLogLevel: 'SILENT',
    ...options,
  });
  const stop = stack.stop;
  return {
    ...stack,
    async stop() {
      await stop();
      // Tables on the shared DynamoDB Local are dropped; a stack's own DynamoDB Local is gone anyway.
      if (!stack.dynamo) {
        const client = localDynamoClient(stack.dynamodbEndpoint);
        for (const tableName of Object.values(stack.tableNames)) {
          await client.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
        }
        client.destroy();
      }
    },
  };
}
