/**
 * Where the CLI sends its keys-admin event: by default the local Lambda Invoke API that
 * `npm start` serves (port from `infra/local-endpoints.ts`, overridable with `LAMBDA_PORT`),
 * or, with `--stage NAME`, the deployed function, whose name is read from the stage's
 * CloudFormation outputs so the CLI never hard-codes generated names.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DEFAULT_LAMBDA_PORT } from '../infra/local-endpoints.js';
import { STACK_OUTPUTS, stackNameFor } from '../infra/outputs.js';
import type { StageName } from '../infra/stages.js';

export type Target = { kind: 'local'; endpoint: string } | { kind: 'stage'; stage: StageName };

/** The local default as the usage text shows it, next to the code that computes it so both agree. */
export const DEFAULT_LOCAL_ENDPOINT_HELP = `http://127.0.0.1:\${LAMBDA_PORT:-${DEFAULT_LAMBDA_PORT}}`;

/** The local Invoke API `npm start` serves; an empty `LAMBDA_PORT` counts as unset, like the shell's `:-`. */
export function defaultLocalEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return `http://127.0.0.1:${env.LAMBDA_PORT || DEFAULT_LAMBDA_PORT}`;
}

/** The target could not be resolved or reached: the CLI reports the message and exits non-zero. */
export class TargetError extends Error {
  override readonly name = 'TargetError';
}

/** The keys-admin function name of a deployed stage, from its stack's outputs. */
export async function deployedFunctionName(stage: StageName): Promise<string> {
  const stackName = stackNameFor(stage);
  const cloudFormation = new CloudFormationClient({});
  try {
    const answer = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const output = answer.Stacks?.[0]?.Outputs?.find(
      (candidate) => candidate.OutputKey === STACK_OUTPUTS.keysAdminFunctionName,
    );
    if (!output?.OutputValue) {
      throw new TargetError(
        `Stack ${stackName} has no output ${STACK_OUTPUTS.keysAdminFunctionName}; redeploy it.`,
      );
    }
    return output.OutputValue;
  } catch (error) {
    // Our own "no output" error passes through; anything from the SDK gets the stack named.
    if (error instanceof TargetError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new TargetError(`Cannot read stack ${stackName} from CloudFormation: ${message}`);
  } finally {
    cloudFormation.destroy();
  }
}
