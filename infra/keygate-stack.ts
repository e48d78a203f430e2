/**
 * One keygate stage: tables, functions, REST API (and its WAF web ACL), alarms, the keys-admin
 * audit and the outputs the ops CLI reads.
 * Every IAM grant comes from the function descriptions in infra/functions.ts — exact actions
 * on exact tables, each with the SDK calls that need it (SPEC §7 least privilege).
 */
import { CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { keyEnvironmentOfStage } from '../shared/domain/keys/format.js';
import { KeygateAlarms } from './constructs/keygate-alarms.js';
import { KeygateApi } from './constructs/keygate-api.js';
import { KeygateAudit } from './constructs/keygate-audit.js';
import { KeygateDashboard } from './constructs/keygate-dashboard.js';
import { KeygateFunction } from './constructs/keygate-function.js';
import { KeygateQueries } from './constructs/keygate-queries.js';
import { KeygateWaf } from './constructs/keygate-waf.js';
import { KeygateTables } from './constructs/tables.js';
import { brainMaxDurationMs, environmentOf, FUNCTIONS, type FunctionDescription } from './functions.js';
import { acknowledge } from './nag.js';
import { STACK_OUTPUTS, type STACK_TAG_KEYS } from './outputs.js';
import type { StageConfig } from './stages.js';

export interface KeygateStackProps extends StackProps {
  config: StageConfig;
}

export function retentionOf(days: number): logs.RetentionDays {
  const known = Object.values(logs.RetentionDays).filter(
    (value): value is number => typeof value === 'number',
  );
  if (!known.includes(days)) {
    throw new Error(`logRetentionDays ${days} is not a CloudWatch Logs retention (${known.join(', ')})`);
  }
  return days as logs.RetentionDays;
}

export class KeygateStack extends Stack {
  readonly tables: KeygateTables;
  readonly authorizer: KeygateFunction;
  readonly requests: KeygateFunction;
  readonly keysAdmin: KeygateFunction;
  readonly secretScanning: KeygateFunction;
  readonly referenceBrain: KeygateFunction | undefined;
  readonly api: KeygateApi;
  readonly alarms: KeygateAlarms;
  readonly audit: KeygateAudit;
  readonly waf: KeygateWaf;
  readonly dashboard: KeygateDashboard;
  readonly queries: KeygateQueries;

  constructor(scope: Construct, id: string, props: KeygateStackProps) {
    super(scope, id, props);
    const { config } = props;
    const requestsTimeoutMs = FUNCTIONS.requests.timeoutMs(config);
    if (config.brainTimeoutMs + 2000 > requestsTimeoutMs) {
      throw new Error(
        `brainTimeoutMs ${config.brainTimeoutMs} leaves the requests function (timeout ${requestsTimeoutMs / 1000} s) no time to answer 504`,
      );
    }
    const tags: Record<(typeof STACK_TAG_KEYS)[number], string> = { project: 'keygate', stage: config.stage };
    for (const [key, value] of Object.entries(tags)) Tags.of(this).add(key, value);

    const logRetention = retentionOf(config.logRetentionDays);
    const tables = new KeygateTables(this, 'Tables', {
      retainData: config.retainData,
      pointInTimeRecovery: config.pointInTimeRecovery,
    });
    this.tables = tables;
    const { apiKeys, users, userKeys, idempotency, budgets } = tables;

    // The alarm topic before the functions: the secret-scanning function notifies it too.
    this.alarms = new KeygateAlarms(this, 'Alarms', { config });
    const alarmTopic = this.alarms.topic;

    // The brain: the reference brain in dev, the real brain's ARN elsewhere.
    let brain: { arn: string; name: string };
    if (config.deployReferenceBrain) {
      this.referenceBrain = this.function(
        'ReferenceBrain',
        FUNCTIONS['reference-brain'],
        config,
        logRetention,
      );
      brain = {
        arn: this.referenceBrain.function.functionArn,
        name: this.referenceBrain.function.functionName,
      };
    } else {
      if (!config.brainFunctionArn) throw new Error(`stage ${config.stage} has no brainFunctionArn`);
      this.referenceBrain = undefined;
      brain = { arn: config.brainFunctionArn, name: config.brainFunctionArn };
    }

    // Each function's memory, timeout, environment and grants come from infra/functions.ts,
    // which the local runtime reads too.
    this.authorizer = this.function('Authorizer', FUNCTIONS.authorizer, config, logRetention, brain);
    this.requests = this.function('Requests', FUNCTIONS.requests, config, logRetention, brain);
    this.keysAdmin = this.function('KeysAdmin', FUNCTIONS['keys-admin'], config, logRetention, brain);
    this.secretScanning = this.function(
      'SecretScanning',
      FUNCTIONS['secret-scanning'],
      config,
      logRetention,
      brain,
      alarmTopic,
    );

    const functions: Array<KeygateFunction | undefined> = [
      this.authorizer,
      this.requests,
      this.keysAdmin,
      this.secretScanning,
      this.referenceBrain,
    ];
    for (const fn of functions) {
      if (!fn) continue;
      acknowledge(
        fn.role,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray tracing (Tracing.ACTIVE): xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so their resource must be "*".',
      );
    }

    this.api = new KeygateApi(this, 'Http', {
      config,
      logRetention,
      functions: {
        authorizer: this.authorizer.function,
        requests: this.requests.function,
        'keys-admin': this.keysAdmin.function,
        'secret-scanning': this.secretScanning.function,
      } satisfies Partial<Record<string, lambda.IFunction>>,
    });

    // Abuse (SPEC §7): the stage's WAF web ACL, where the stage config has it.
    this.waf = new KeygateWaf(this, 'Waf', { config, stage: this.api.api.deploymentStage });

    const watchedTables = tables.all.map(({ definition, table }) => ({
      id: definition.id,
      table,
      indexNames: definition.globalSecondaryIndexes.map((index) => index.indexName),
    }));
    this.alarms.watch({
      api: this.api.api,
      functions: {
        authorizer: this.authorizer.function,
        requests: this.requests.function,
        keysAdmin: this.keysAdmin.function,
        secretScanning: this.secretScanning.function,
        ...(this.referenceBrain ? { referenceBrain: this.referenceBrain.function } : {}),
      },
      tables: watchedTables,
    });

    // What ops look at (docs/operations.md): the dashboard and the saved Logs Insights queries.
    const observed = {
      authorizer: this.authorizer,
      requests: this.requests,
      'keys-admin': this.keysAdmin,
      'secret-scanning': this.secretScanning,
      ...(this.referenceBrain ? { 'reference-brain': this.referenceBrain } : {}),
    };
    const logGroups = {
      accessLog: this.api.accessLogGroup,
      functions: Object.fromEntries(Object.entries(observed).map(([name, fn]) => [name, fn.logGroup])),
    };
    this.dashboard = new KeygateDashboard(this, 'Dashboard', {
      config,
      api: this.api.api,
      logGroups,
      functions: Object.fromEntries(Object.entries(observed).map(([name, fn]) => [name, fn.function])),
      tables: watchedTables,
      alarms: this.alarms.alarms,
    });
    this.queries = new KeygateQueries(this, 'Queries', { config, logGroups });

    // Who really invoked keys-admin (CloudTrail, where the stage config has it), and the
    // managed policy an operator needs to run `npm run keys -- … --stage` and read that trail.
    this.audit = new KeygateAudit(this, 'Audit', { config, keysAdmin: this.keysAdmin.function });
    this.audit.allowObserving({
      dashboard: this.dashboard.dashboard,
      logGroups: [...Object.values(logGroups.functions), logGroups.accessLog],
    });

    this.output(STACK_OUTPUTS.apiUrl, this.api.url, 'Base URL of the API (POST {ApiUrl}api/v1/requests)');
    this.output(
      STACK_OUTPUTS.keysAdminFunctionName,
      this.keysAdmin.function.functionName,
      'keys-admin function: npm run keys -- … --stage, or aws lambda invoke',
    );
    this.output(STACK_OUTPUTS.brainFunctionName, brain.name, 'The brain the requests function invokes');
    this.output(
      STACK_OUTPUTS.requestsRoleArn,
      this.requests.role.roleArn,
      'Role of the requests function (grant it lambda:InvokeFunction on a brain in another account; streamed calls use InvokeWithResponseStream, which that permission covers)',
    );
    this.output(STACK_OUTPUTS.apiKeysTableName, apiKeys.tableName, 'DynamoDB table of API keys');
    this.output(STACK_OUTPUTS.usersTableName, users.tableName, 'DynamoDB table of users');
    this.output(
      STACK_OUTPUTS.userKeysTableName,
      userKeys.tableName,
      "DynamoDB table of each user's key references (user_id + key_id)",
    );
    this.output(
      STACK_OUTPUTS.idempotencyTableName,
      idempotency.tableName,
      'DynamoDB table of idempotency records',
    );
    this.output(
      STACK_OUTPUTS.budgetsTableName,
      budgets.tableName,
      'DynamoDB table of spend budgets (limit, spent, held per budget)',
    );
    this.output(STACK_OUTPUTS.alarmTopicArn, this.alarms.topic.topicArn, 'SNS topic of the stage alarms');
    this.output(
      STACK_OUTPUTS.dashboardUrl,
      this.dashboard.url,
      'CloudWatch dashboard of the stage: keys admitted and refused, errors, brain, spend, tables, WAF, leaks, functions',
    );
    this.output(
      STACK_OUTPUTS.keyOperatorsPolicyArn,
      this.audit.keyOperatorsPolicy.managedPolicyArn,
      'Managed policy for key operators: invoke keys-admin, read these outputs and the audit trail',
    );
    if (this.audit.trail && this.audit.bucket) {
      this.output(
        STACK_OUTPUTS.auditTrailArn,
        this.audit.trail.trailArn,
        'CloudTrail trail recording every keys-admin invocation and its caller',
      );
      this.output(
        STACK_OUTPUTS.auditBucketName,
        this.audit.bucket.bucketName,
        'S3 bucket of the keys-admin audit trail files',
      );
    }
  }

  /** One function from its description: settings, environment, and exactly its grants. */
  private function(
    id: string,
    description: FunctionDescription,
    config: StageConfig,
    logRetention: logs.RetentionDays,
    brain?: { arn: string; name: string },
    alarmTopic?: sns.ITopic,
  ): KeygateFunction {
    const fn = new KeygateFunction(this, id, {
      name: description.name,
      description: description.description,
      memorySize: description.memoryMb,
      timeout: Duration.millis(description.timeoutMs(config)),
      environment: environmentOf(description, {
        stage: config.stage,
        tableName: (table) => this.tables.byId(table).tableName,
        keyEnvironment: keyEnvironmentOfStage(config.stage),
        budgetDefaultHoldUsd: config.budgetDefaultHoldUsd,
        ...(brain
          ? {
              brain: {
                functionName: brain.name,
                timeoutMs: config.brainTimeoutMs,
                maxDurationMs: brainMaxDurationMs(config),
              },
            }
          : {}),
        ...(alarmTopic ? { alarmTopicArn: alarmTopic.topicArn } : {}),
      }),
      logRetention,
      retainLogs: config.retainData,
    });
    for (const grant of description.tables) {
      const table = this.tables.byId(grant.table);
      fn.allow(grant.actions, [grant.index ? `${table.tableArn}/index/${grant.index}` : table.tableArn]);
    }
    if (description.invokesBrain) {
      if (!brain) throw new Error(`${description.name} invokes the brain, but the stack has none`);
      // Plain calls Invoke the brain, streamed calls InvokeWithResponseStream it (SPEC §7).
      fn.allow(['lambda:InvokeFunction', 'lambda:InvokeWithResponseStream'], [brain.arn]);
    }
    if (description.notifiesAlarmTopic) {
      if (!alarmTopic) throw new Error(`${description.name} notifies the alarm topic, but none was given`);
      fn.allow(['sns:Publish'], [alarmTopic.topicArn]);
    }
    return fn;
  }

  private output(key: string, value: string, description: string): void {
    new CfnOutput(this, key, { key, value, description });
  }
}
