/**
 * One keygate stage: tables, functions, REST API, alarms and the outputs the ops CLI reads.
 * Every IAM grant is spelled out here — exact actions on exact resources — and mirrors the
 * SDK calls in shared/repositories and shared/idempotency (SPEC §7 least privilege).
 */
import { CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { USER_ID_INDEX } from '../shared/adapters/dynamodb/tables.js';
import { KeygateAlarms } from './constructs/keygate-alarms.js';
import { KeygateApi } from './constructs/keygate-api.js';
import { KeygateFunction } from './constructs/keygate-function.js';
import { KeygateTables } from './constructs/tables.js';
import { acknowledge } from './nag.js';
import { STACK_OUTPUTS } from './outputs.js';
import type { StageConfig } from './stages.js';

export interface KeygateStackProps extends StackProps {
  config: StageConfig;
}

/** API Gateway gives up after 29 s; the requests function must answer (504) before that. */
const REQUESTS_TIMEOUT = Duration.seconds(28);

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
  readonly referenceBrain: KeygateFunction | undefined;
  readonly api: KeygateApi;
  readonly alarms: KeygateAlarms;

  constructor(scope: Construct, id: string, props: KeygateStackProps) {
    super(scope, id, props);
    const { config } = props;
    if (config.brainTimeoutMs + 2000 > REQUESTS_TIMEOUT.toMilliseconds()) {
      throw new Error(
        `brainTimeoutMs ${config.brainTimeoutMs} leaves the requests function (timeout ${REQUESTS_TIMEOUT.toSeconds()} s) no time to answer 504`,
      );
    }
    Tags.of(this).add('project', 'keygate');
    Tags.of(this).add('stage', config.stage);

    const logRetention = retentionOf(config.logRetentionDays);
    const common = { logRetention, retainLogs: config.retainData };
    const tables = new KeygateTables(this, 'Tables', {
      retainData: config.retainData,
      pointInTimeRecovery: config.pointInTimeRecovery,
    });
    this.tables = tables;
    const { apiKeys, users, idempotency } = tables;
    const keyTablesEnv = { API_KEYS_TABLE: apiKeys.tableName, USERS_TABLE: users.tableName };

    // authorizer: one conditional UpdateItem per well-formed key (verify-and-count), nothing else.
    this.authorizer = new KeygateFunction(this, 'Authorizer', {
      ...common,
      name: 'authorizer',
      description: 'keygate REQUEST authorizer: verifies and counts API keys',
      // More memory = more CPU: faster cold starts on the path of every request.
      memorySize: 1024,
      timeout: Duration.seconds(5),
      environment: keyTablesEnv,
    });
    this.authorizer.allow(['dynamodb:UpdateItem'], [apiKeys.tableArn]);

    // The brain: the reference brain in dev, the real brain's ARN elsewhere.
    let brain: { arn: string; name: string };
    if (config.deployReferenceBrain) {
      this.referenceBrain = new KeygateFunction(this, 'ReferenceBrain', {
        ...common,
        name: 'reference-brain',
        description: 'keygate reference brain (deterministic, simulated payments)',
        memorySize: 256,
        // Longer than the requests function waits, so `test-timeout` really exercises the 504.
        timeout: Duration.millis(config.brainTimeoutMs + 5000),
        environment: {},
      });
      brain = {
        arn: this.referenceBrain.function.functionArn,
        name: this.referenceBrain.function.functionName,
      };
    } else {
      if (!config.brainFunctionArn) throw new Error(`stage ${config.stage} has no brainFunctionArn`);
      this.referenceBrain = undefined;
      brain = { arn: config.brainFunctionArn, name: config.brainFunctionArn };
    }

    // requests: invoke the brain; idempotency records are claimed (conditional Put),
    // completed (Update) and released after a failure (Delete). No reads: Put returns the old item.
    this.requests = new KeygateFunction(this, 'Requests', {
      ...common,
      name: 'requests',
      description: 'keygate POST /api/v1/requests: validate, transform, invoke the brain',
      memorySize: 512,
      timeout: REQUESTS_TIMEOUT,
      environment: {
        IDEMPOTENCY_TABLE: idempotency.tableName,
        BRAIN_FUNCTION_NAME: brain.name,
        BRAIN_TIMEOUT_MS: String(config.brainTimeoutMs),
      },
    });
    this.requests.allow(['lambda:InvokeFunction'], [brain.arn]);
    this.requests.allow(
      ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      [idempotency.tableArn],
    );

    // keys-admin: exactly the calls of ApiKeyRepository and UserRepository.
    this.keysAdmin = new KeygateFunction(this, 'KeysAdmin', {
      ...common,
      name: 'keys-admin',
      description: 'keygate keys-admin: create, list, revoke and rotate API keys (ops)',
      memorySize: 256,
      timeout: Duration.seconds(30),
      environment: keyTablesEnv,
    });
    // create: TransactWriteItems = ConditionCheck on Users + Put on ApiKeys; get/list read
    // the base table (Get, BatchGet); revoke/rotate/suspend update keys.
    this.keysAdmin.allow(
      ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      [apiKeys.tableArn],
    );
    // list/rotate/suspend find a user's keys through the user_id GSI.
    this.keysAdmin.allow(['dynamodb:Query'], [`${apiKeys.tableArn}/index/${USER_ID_INDEX}`]);
    // create-user (Put), find (Get), suspend/reactivate and the key transaction's conditional
    // Update that records the key on its user.
    this.keysAdmin.allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [users.tableArn]);

    const functions: Array<KeygateFunction | undefined> = [
      this.authorizer,
      this.requests,
      this.keysAdmin,
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
      } satisfies Partial<Record<string, lambda.IFunction>>,
    });

    this.alarms = new KeygateAlarms(this, 'Alarms', {
      config,
      api: this.api.api,
      functions: {
        authorizer: this.authorizer.function,
        requests: this.requests.function,
        keysAdmin: this.keysAdmin.function,
        ...(this.referenceBrain ? { referenceBrain: this.referenceBrain.function } : {}),
      },
      tables: tables.all.map(({ definition, table }) => ({
        id: definition.id,
        table,
        indexNames: definition.globalSecondaryIndexes.map((index) => index.indexName),
      })),
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
      'Role of the requests function (grant it lambda:InvokeFunction on a brain in another account)',
    );
    this.output(STACK_OUTPUTS.apiKeysTableName, apiKeys.tableName, 'DynamoDB table of API keys');
    this.output(STACK_OUTPUTS.usersTableName, users.tableName, 'DynamoDB table of users');
    this.output(
      STACK_OUTPUTS.idempotencyTableName,
      idempotency.tableName,
      'DynamoDB table of idempotency records',
    );
    this.output(STACK_OUTPUTS.alarmTopicArn, this.alarms.topic.topicArn, 'SNS topic of the stage alarms');
  }

  private output(key: string, value: string, description: string): void {
    new CfnOutput(this, key, { key, value, description });
  }
}
