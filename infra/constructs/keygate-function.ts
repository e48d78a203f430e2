/**
 * The one Lambda construct: every keygate function gets the same runtime (Node.js 24,
 * arm64), ESM bundle (minified, source maps, built by the local esbuild — no Docker),
 * X-Ray, its own log group with the stage's retention, and a role with no managed policy.
 * Permissions are granted explicitly with `allow(...)`, so a function's least-privilege
 * surface is readable at the call site in the stack.
 */
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ESBUILD_SETTINGS, ESM_REQUIRE_BANNER, LAZY_MODULES, lazyModuleCommands } from '../bundling.js';
import type { FunctionName } from '../functions.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node.js 24, the newest LTS Lambda runtime (SPEC §7). */
export const KEYGATE_RUNTIME = lambda.Runtime.NODEJS_24_X;
const BUNDLE_TARGET = 'node24';

export interface KeygateFunctionProps {
  /** `functions/<name>/handler.ts`, exporting `handler`. */
  name: FunctionName;
  memorySize: number;
  timeout: Duration;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** RETAIN keeps the log group when the stack is deleted (staging/prod). */
  retainLogs: boolean;
  description: string;
}

export class KeygateFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: KeygateFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // No AWSLambdaBasicExecutionRole: the role may write to its own log group and nothing else.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `keygate ${props.name}: least-privilege execution role`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: fileURLToPath(new URL(`../../functions/${props.name}/handler.ts`, import.meta.url)),
      handler: 'handler',
      description: props.description,
      runtime: KEYGATE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: fileURLToPath(new URL('../../package-lock.json', import.meta.url)),
      // The description's environment (infra/functions.ts) plus what only a deployment needs.
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_TARGET,
        platform: ESBUILD_SETTINGS.platform,
        mainFields: [...ESBUILD_SETTINGS.mainFields],
        banner: ESM_REQUIRE_BANNER,
        minify: ESBUILD_SETTINGS.minify,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        logLevel: LogLevel.WARNING,
        // Bundle the AWS SDK too: one pinned version, tree-shaken, and what `npm run bench` measures.
        // Only the on-demand modules stay out of index.mjs: they ship as files of their own.
        externalModules: Object.keys(LAZY_MODULES),
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir, outputDir) => lazyModuleCommands(outputDir, BUNDLE_TARGET),
        },
        // esbuild is a local devDependency: synth never needs Docker.
        forceDockerBundling: false,
      },
    });
  }

  /** Grants exactly these actions on exactly these resources (one explicit statement). */
  allow(actions: readonly string[], resources: readonly string[]): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ effect: iam.Effect.ALLOW, actions: [...actions], resources: [...resources] }),
    );
  }
}
