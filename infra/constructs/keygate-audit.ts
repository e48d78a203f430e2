/**
 * Who did what with the keys (SPEC §6, §7). keys-admin's own audit line names the actor the
 * caller *claims* (the CLI's client context); only CloudTrail records who really invoked
 * it: the IAM principal that signed the Invoke call. So, where the stage config turns the
 * audit on, a single-region trail records the Lambda data events of keys-admin, and nothing
 * else (management events are in the account's 90-day event history already, and a second
 * copy of them is billed), into a bucket of its own: versioned, encrypted, never public,
 * TLS only, files expired after the stage's retention, and each file covered by CloudTrail's
 * signed digests so a changed or deleted file is detectable.
 *
 * Every stage, dev too, gets the key operators managed policy: invoke keys-admin, read the
 * stack's outputs (where the ops CLI finds the function), read the trail files, and (with
 * `allowObserving`) see the stage's dashboard and run its saved queries on its log groups:
 * everything the runbook (docs/operations.md) asks an operator to use.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import type { StageConfig } from '../stages.js';

/** What the dashboard and saved queries need that IAM cannot scope to a resource (all read-only). */
export const OBSERVE_ACTIONS_WITHOUT_RESOURCES = [
  'cloudwatch:GetMetricData',
  'cloudwatch:ListMetrics',
  'cloudwatch:DescribeAlarms',
  'logs:DescribeLogGroups',
  'logs:DescribeQueryDefinitions',
  'logs:GetQueryResults',
  'logs:StopQuery',
] as const;

export interface KeygateAuditProps {
  config: Pick<StageConfig, 'stage' | 'retainData' | 'audit'>;
  /** The function whose every invocation the trail records. */
  keysAdmin: lambda.IFunction;
}

/** The trail's name; fixed, so the bucket policy can name the one trail allowed to write. */
export function auditTrailName(stage: StageConfig['stage']): string {
  return `keygate-${stage}-keys-admin`;
}

export class KeygateAudit extends Construct {
  /** Attach to an operator's role or user (output `KeyOperatorsPolicyArn`). */
  readonly keyOperatorsPolicy: iam.ManagedPolicy;
  /** `undefined` where the stage has no audit trail (`audit.cloudTrail: false`). */
  readonly trail: cloudtrail.Trail | undefined;
  readonly bucket: s3.Bucket | undefined;

  constructor(scope: Construct, id: string, props: KeygateAuditProps) {
    super(scope, id);
    const { config, keysAdmin } = props;
    const stack = Stack.of(this);

    this.keyOperatorsPolicy = new iam.ManagedPolicy(this, 'KeyOperatorsPolicy', {
      description: `keygate ${config.stage}: invoke keys-admin (npm run keys -- … --stage ${config.stage}), read the stack outputs and the keys-admin audit trail, see the dashboard and query the logs`,
      statements: [
        new iam.PolicyStatement({
          sid: 'InvokeKeysAdmin',
          actions: ['lambda:InvokeFunction'],
          resources: [keysAdmin.functionArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadStackOutputs',
          actions: ['cloudformation:DescribeStacks'],
          resources: [stack.stackId],
        }),
      ],
    });

    if (!config.audit.cloudTrail) {
      this.trail = undefined;
      this.bucket = undefined;
      return;
    }
    const { retentionDays } = config.audit;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      // SSE-S3, not a customer managed KMS key: access is decided by this bucket's policy and
      // IAM alone (a KMS key would add a key policy, a CloudTrail encryption context grant
      // and kms:Decrypt for every operator, and a monthly key fee), and integrity comes from
      // CloudTrail's signed digest files, not from the key.
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        {
          id: 'audit-retention',
          expiration: Duration.days(retentionDays),
          // A file deleted or expired early stays recoverable as a noncurrent version just as long.
          noncurrentVersionExpiration: Duration.days(retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // No autoDeleteObjects (it would add a custom-resource function): where the stage keeps
      // its data the trail files outlive the stack; elsewhere the bucket must be emptied first.
      removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'The bucket holds only CloudTrail files of the keys-admin audit trail, written by CloudTrail (one trail, named in the bucket policy) and read through the key operators policy; each file is covered by CloudTrail signed digests (file validation), so a change or deletion is detectable without a second access-log bucket.',
    );

    const trailName = auditTrailName(config.stage);
    const trailArn = stack.formatArn({
      service: 'cloudtrail',
      resource: 'trail',
      resourceName: trailName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      trailName,
      bucket: this.bucket,
      enableFileValidation: true,
      isMultiRegionTrail: false,
      includeGlobalServiceEvents: false,
      managementEvents: cloudtrail.ReadWriteType.NONE,
      sendToCloudWatchLogs: false,
    });
    // Data events of exactly this function: every Invoke, with the caller's identity.
    this.trail.addLambdaEventSelector([keysAdmin], {
      includeManagementEvents: false,
      readWriteType: cloudtrail.ReadWriteType.ALL,
    });
    // The trail's own policy lets the CloudTrail service write under AWSLogs/<account>/;
    // this keeps any other trail (another account's, confused deputy) out of the bucket.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherTrails',
        effect: iam.Effect.DENY,
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['s3:GetBucketAcl', 's3:PutObject'],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:SourceArn': trailArn } },
      }),
    );

    this.keyOperatorsPolicy.addStatements(
      new iam.PolicyStatement({
        sid: 'ListAuditTrail',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
      new iam.PolicyStatement({
        sid: 'ReadAuditTrail',
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    const bucketId = stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    acknowledge(
      this.keyOperatorsPolicy,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      'Key operators read the audit trail files to see who invoked keys-admin: the bucket holds nothing but those files, whose keys CloudTrail generates per day and region, so every object of that one bucket is the exact resource (read only, s3:GetObject).',
    );
  }
  /**
   * Lets key operators see the stage's dashboard and run its saved Logs Insights queries on
   * exactly the stage's log groups. Reading metrics and query results has no resource-level
   * permission in IAM, so those few read-only actions take `*`.
   */
  allowObserving(props: { dashboard: cloudwatch.Dashboard; logGroups: readonly logs.ILogGroup[] }): void {
    this.keyOperatorsPolicy.addStatements(
      new iam.PolicyStatement({
        sid: 'ReadDashboard',
        actions: ['cloudwatch:GetDashboard'],
        resources: [props.dashboard.dashboardArn],
      }),
      new iam.PolicyStatement({
        sid: 'ReadMetricsAndQueries',
        actions: [...OBSERVE_ACTIONS_WITHOUT_RESOURCES],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'QueryStageLogs',
        actions: ['logs:StartQuery', 'logs:FilterLogEvents', 'logs:GetLogEvents'],
        resources: props.logGroups.map((group) => group.logGroupArn),
      }),
    );
    acknowledge(
      this.keyOperatorsPolicy,
      'AwsSolutions-IAM5[Resource::*]',
      `Read-only actions that IAM cannot scope to a resource (${OBSERVE_ACTIONS_WITHOUT_RESOURCES.join(', ')}): what the dashboard's graphs and the saved Logs Insights queries need to show their results. Starting a query is scoped to the stage's log groups, reading the dashboard to the stage's dashboard.`,
    );
  }
}
