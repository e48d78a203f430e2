/**
 * The CDK app: `npx cdk synth|deploy -c stage=dev|staging|prod [-c brainFunctionArn=ARN] [-c brainMaxDurationMs=MS]`.
 * A wrong stage or a missing brain ARN stops synth with a message a human can act on.
 */
import { App } from 'aws-cdk-lib';
import * as z from 'zod';
import { buildKeygate } from './build.js';
import { resolveStage, type StageConfig, StageConfigError } from './stages.js';

const app = new App();

function stageConfig(): StageConfig {
  try {
    return resolveStage(app.node.tryGetContext('stage'), {
      brainFunctionArn: app.node.tryGetContext('brainFunctionArn'),
      brainMaxDurationMs: app.node.tryGetContext('brainMaxDurationMs'),
    });
  } catch (error) {
    if (error instanceof StageConfigError) {
      console.error(`keygate: ${error.message}`);
    } else if (error instanceof z.ZodError) {
      console.error(`keygate: invalid stage configuration:\n${z.prettifyError(error)}`);
    } else {
      throw error;
    }
    process.exit(1);
  }
}

buildKeygate(app, stageConfig());
app.synth();
