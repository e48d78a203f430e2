/**
 * `npm run keys -- … --stage NAME` with the unchanged AWS SDK: the function name comes from
 * CloudFormation's DescribeStacks (a stand-in CloudFormation endpoint here) and the invoke
 * goes to the Lambda endpoint the SDK is configured with (the local Invoke API here).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { runCli } from './support/cli.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let cloudFormation: Server;
let cloudFormationUrl: string;
const describeCalls: URLSearchParams[] = [];
/** Outputs the stand-in CloudFormation reports for any stack. */
let outputs: Record<string, string> = {};

const describeStacksXml = (
  stackName: string,
) => `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>${stackName}</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/${stackName}/1</StackId>
        <StackStatus>UPDATE_COMPLETE</StackStatus>
        <CreationTime>2026-01-01T00:00:00Z</CreationTime>
        <Outputs>
${Object.entries(outputs)
  .map(
    ([key, value]) =>
      `          <member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`,
  )
  .join('\n')}
        </Outputs>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</DescribeStacksResponse>`;

beforeAll(async () => {
  stack = await startTestStack();
  cloudFormation = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const params = new URLSearchParams(body);
      describeCalls.push(params);
      response.writeHead(200, { 'Content-Type': 'text/xml' });
      response.end(describeStacksXml(params.get('StackName') ?? ''));
    });
  });
  await new Promise<void>((resolve) => cloudFormation.listen(0, '127.0.0.1', () => resolve()));
  const address = cloudFormation.address();
  cloudFormationUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => cloudFormation?.close(resolve));
  await stack?.stop();
});

const awsEnv = () => ({
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormationUrl,
  AWS_ENDPOINT_URL_LAMBDA: stack.lambdaUrl,
});

describe('--stage', () => {
  it('invokes the function named by the stack output KeysAdminFunctionName of keygate-<stage>', async () => {
    outputs = { ApiUrl: 'https://example.invalid/', KeysAdminFunctionName: 'keys-admin' };

    const created = await runCli(['create-user', '--user', 'staged', '--stage', 'dev'], undefined, awsEnv());

    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/staged\s+active/);
    expect(describeCalls.at(-1)?.get('Action')).toBe('DescribeStacks');
    expect(describeCalls.at(-1)?.get('StackName')).toBe('keygate-dev');
  });

  it('exits 1 naming the missing output when the stack lacks it', async () => {
    outputs = { ApiUrl: 'https://example.invalid/' };

    const result = await runCli(['list', '--user', 'staged', '--stage', 'prod'], undefined, awsEnv());

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Stack keygate-prod has no output KeysAdminFunctionName');
  });

  it('refuses an unknown stage, and --stage together with --endpoint, with the usage text', async () => {
    const unknown = await runCli(['list', '--user', 'u1', '--stage', 'qa'], undefined, awsEnv());
    const both = await runCli(['list', '--user', 'u1', '--stage', 'dev'], stack.lambdaUrl, awsEnv());

    expect([unknown.code, both.code]).toEqual([2, 2]);
    expect(unknown.stderr).toContain('Unknown stage "qa"');
    expect(both.stderr).toContain('either --stage');
  });
});
