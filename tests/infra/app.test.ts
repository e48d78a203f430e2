/**
 * The CDK app entry (infra/app.ts) as `cdk synth` runs it: a stage from `-c stage=`, the
 * brain ARN from `-c brainFunctionArn=`, clear failures, and cdk-nag failing synth.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, describe, expect, it } from 'vitest';
import { buildKeygate } from '../../infra/build.js';
import { stackNameFor } from '../../infra/outputs.js';
import { PLACEHOLDER_BRAIN_ARN, stageConfig } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const outdirs: string[] = [];

/** A full synth with bundling takes ~20 s alone and longer beside the rest of the suite. */
const SYNTH_TIMEOUT_MS = 150_000;

/** Runs infra/app.ts the way the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
function runApp(context: Record<string, string>) {
  const outdir = mkdtempSync(join(tmpdir(), 'keygate-cdk-'));
  outdirs.push(outdir);
  const result = spawnSync(TSX, ['infra/app.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: SYNTH_TIMEOUT_MS,
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
  });
  return { status: result.status, stderr: result.stderr, outdir };
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

describe('infra/app.ts', () => {
  it('refuses an unknown stage with the list of stages', () => {
    const { status, stderr } = runApp({ stage: 'nope' });
    expect(status).toBe(1);
    expect(stderr).toContain('Unknown stage "nope". Use -c stage=dev|staging|prod.');
  });

  it('refuses staging without the brain ARN and says how to pass it', () => {
    const { status, stderr } = runApp({ stage: 'staging' });
    expect(status).toBe(1);
    expect(stderr).toContain('Stage "staging" needs the brain\'s Lambda ARN');
    expect(stderr).toContain('-c brainFunctionArn=');
  });

  it('refuses a brain ARN that is not an ARN', () => {
    const { status, stderr } = runApp({ stage: 'prod', brainFunctionArn: 'brain' });
    expect(status).toBe(1);
    expect(stderr).toContain('invalid stage configuration');
    expect(stderr).toContain('brainFunctionArn');
  });

  it(
    'synthesizes prod offline with the placeholder brain ARN, as CI does',
    () => {
      const { status, stderr, outdir } = runApp({ stage: 'prod', brainFunctionArn: PLACEHOLDER_BRAIN_ARN });
      expect(stderr).not.toMatch(/AwsSolutions-/);
      expect(status).toBe(0);
      const templatePath = join(outdir, `${stackNameFor('prod')}.template.json`);
      expect(existsSync(templatePath)).toBe(true);
      expect(readFileSync(templatePath, 'utf8')).toContain(PLACEHOLDER_BRAIN_ARN);
    },
    SYNTH_TIMEOUT_MS,
  );
});

describe('cdk-nag in the app', () => {
  it('fails synth on an unacknowledged AwsSolutions finding', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = buildKeygate(app, stageConfig('dev'));
    // A topic that accepts non-TLS publishers: AwsSolutions-SNS3.
    new sns.Topic(stack, 'Careless');
    expect(() => app.synth()).toThrow(/AwsSolutions-SNS3/);
  });
});
