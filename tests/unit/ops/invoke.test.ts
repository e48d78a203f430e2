/**
 * The CLI's invoker: a deployed stage's function name is read from CloudFormation once, however
 * many calls an action makes (every page of `usage`, a repeated suspension); each call carries
 * the event and the actor; a function error comes back as such.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { STACK_OUTPUTS } from '../../../infra/outputs.js';
import { createInvoker } from '../../../ops/invoke.js';
import { invokeOutput } from '../../support/brain.js';

const cloudFormation = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
afterEach(() => {
  cloudFormation.reset();
  lambda.reset();
});

describe('the CLI invoker', () => {
  it('reads the stage function name once for every call', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'keygate-dev',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            { OutputKey: STACK_OUTPUTS.keysAdminFunctionName, OutputValue: 'keygate-dev-keys-admin' },
          ],
        },
      ],
    });
    lambda.on(InvokeCommand).resolves(invokeOutput({ ok: true, usage: [] }));
    const invoker = createInvoker({ kind: 'stage', stage: 'dev' });

    const answers = [
      await invoker.invoke({ action: 'usage', userId: 'u1', limit: 1000 }),
      await invoker.invoke({ action: 'usage', userId: 'u1', limit: 1000, nextToken: 't1' }),
    ];
    invoker.close();

    expect(answers).toEqual([{ payload: { ok: true, usage: [] } }, { payload: { ok: true, usage: [] } }]);
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(1);
    const calls = lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.FunctionName)).toEqual([
      'keygate-dev-keys-admin',
      'keygate-dev-keys-admin',
    ]);
    expect(JSON.parse(String(calls[1]?.Payload))).toEqual({
      action: 'usage',
      userId: 'u1',
      limit: 1000,
      nextToken: 't1',
    });
    const context = JSON.parse(Buffer.from(calls[0]?.ClientContext ?? '', 'base64').toString('utf8'));
    expect(context).toEqual({ custom: { actor: expect.stringContaining('@') } });
  });

  it('passes a function error back with its payload', async () => {
    lambda
      .on(InvokeCommand)
      .resolves(invokeOutput({ errorType: 'Error', errorMessage: 'boom' }, { FunctionError: 'Unhandled' }));
    const invoker = createInvoker({ kind: 'local', endpoint: 'http://127.0.0.1:1' });

    const result = await invoker.invoke({ action: 'list', userId: 'u1' });
    invoker.close();

    expect(result).toEqual({
      functionError: 'Unhandled',
      payload: { errorType: 'Error', errorMessage: 'boom' },
    });
  });

  it('refuses every call, naming the output, when the stack lacks it', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [] });
    const invoker = createInvoker({ kind: 'stage', stage: 'prod' });

    await expect(invoker.invoke({ action: 'list', userId: 'u1' })).rejects.toThrow(
      `Stack keygate-prod has no output ${STACK_OUTPUTS.keysAdminFunctionName}`,
    );
    invoker.close();
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });
});
