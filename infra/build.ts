/** Builds the stack of one stage into an app (used by infra/app.ts and the tests). */
import type { App } from 'aws-cdk-lib';
import { KeygateStack } from './keygate-stack.js';
import { addNagChecks } from './nag.js';
import { stackNameFor } from './outputs.js';
import type { StageConfig } from './stages.js';

export function buildKeygate(app: App, config: StageConfig): KeygateStack {
  const stack = new KeygateStack(app, stackNameFor(config.stage), {
    stackName: stackNameFor(config.stage),
    description: `keygate (${config.stage}): API keys in front of the agentic brain`,
    config,
    // Environment-agnostic unless the CLI knows the account/region: synth stays offline.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  addNagChecks(app);
  return stack;
}
