/**
 * The keys-admin audit (SPEC §6, §7) in every stage: where the stage config turns it on, a
 * CloudTrail trail records the data events of exactly the keys-admin function into a
 * versioned, encrypted, private, TLS-only bucket that expires files after the stage's
 * retention; every stage has the key operators managed policy, and the outputs name both.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { auditTrailName, OBSERVE_ACTIONS_WITHOUT_RESOURCES } from '../../infra/constructs/keygate-audit.js';
import { AUDIT_TRAIL_OUTPUTS, STACK_OUTPUTS, stackOutputKeysOf } from '../../infra/outputs.js';
import {
  STAGE_NAMES,
  STAGES,
  type StageConfig,
  type StageName,
  stageConfigSchema,
} from '../../infra/stages.js';
import {
  acknowledgments,
  logicalId,
  nagFindings,
  render,
  type Synthesized,
  stageConfig,
  synthesize,
} from './support.js';

interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** `Effect action resource` of every statement, one per action and resource, sorted. */
function triples(statements: Statement[]): string[] {
  return statements
    .flatMap((statement) =>
      asList(statement.Action).flatMap((action) =>
        asList(statement.Resource).map((resource) => `${statement.Effect} ${action} ${render(resource)}`),
      ),
    )
    .sort();
}

describe('stage configuration', () => {
  it('audits staging for a year and prod for seven years, and not dev', () => {
    expect(STAGES.dev.audit).toEqual({ cloudTrail: false });
    expect(STAGES.staging.audit).toEqual({ cloudTrail: true, retentionDays: 365 });
    expect(STAGES.prod.audit).toEqual({ cloudTrail: true, retentionDays: 2555 });
  });

  it('refuses a trail without a retention, or a retention that is not a positive number of days', () => {
    const prod = stageConfig('prod');
    expect(() => stageConfigSchema.parse({ ...prod, audit: { cloudTrail: true } })).toThrow(/retentionDays/);
    expect(() => stageConfigSchema.parse({ ...prod, audit: { cloudTrail: true, retentionDays: 0 } })).toThrow(
      /retentionDays/,
    );
    expect(() =>
      stageConfigSchema.parse({ ...prod, audit: { cloudTrail: true, retentionDays: 1.5 } }),
    ).toThrow(/retentionDays/);
    expect(() => stageConfigSchema.parse({ ...prod, audit: undefined })).toThrow(/audit/);
  });
});

describe.each(STAGE_NAMES)('stage %s', (stage: StageName) => {
  let config: StageConfig;
  let synthesized: Synthesized;

  beforeAll(() => {
    config = stageConfig(stage);
    synthesized = synthesize(config, { bundle: false });
  });

  const template = () => synthesized.template;
  const audit = () => synthesized.stack.audit;
  const keysAdminArn = () => `${logicalId(synthesized.stack.keysAdmin.function)}.Arn`;
  const retentionDays = () => (config.audit.cloudTrail ? config.audit.retentionDays : undefined);

  it('has the audit trail exactly where its config says so', () => {
    expect(config.audit.cloudTrail).toBe(stage !== 'dev');
    template().resourceCountIs('AWS::CloudTrail::Trail', stage === 'dev' ? 0 : 1);
    template().resourceCountIs('AWS::S3::Bucket', stage === 'dev' ? 0 : 1);
    expect(audit().trail === undefined).toBe(stage === 'dev');
    expect(audit().bucket === undefined).toBe(stage === 'dev');
  });

  it('gives key operators exactly: invoke keys-admin, read this stack and the trail files, see the dashboard, query the stage logs', () => {
    const policies = template().findResources('AWS::IAM::ManagedPolicy');
    expect(Object.keys(policies)).toEqual([logicalId(audit().keyOperatorsPolicy)]);
    const statements = Object.values(policies)[0]?.Properties.PolicyDocument.Statement as Statement[];
    const bucket = audit().bucket;
    const trailFiles = bucket
      ? [`Allow s3:ListBucket ${logicalId(bucket)}.Arn`, `Allow s3:GetObject ${logicalId(bucket)}.Arn/*`]
      : [];
    const { stack } = synthesized;
    const logGroups = [
      stack.authorizer,
      stack.requests,
      stack.keysAdmin,
      stack.secretScanning,
      ...(stack.referenceBrain ? [stack.referenceBrain] : []),
    ]
      .map((fn) => fn.logGroup)
      .concat(stack.api.accessLogGroup);
    const observing = [
      `Allow cloudwatch:GetDashboard ${render(stack.resolve(stack.dashboard.dashboard.dashboardArn))}`,
      ...OBSERVE_ACTIONS_WITHOUT_RESOURCES.map((action) => `Allow ${action} *`),
      ...['logs:StartQuery', 'logs:FilterLogEvents', 'logs:GetLogEvents'].flatMap((action) =>
        logGroups.map((group) => `Allow ${action} ${logicalId(group)}.Arn`),
      ),
    ];
    expect(triples(statements)).toEqual(
      [
        `Allow lambda:InvokeFunction ${keysAdminArn()}`,
        'Allow cloudformation:DescribeStacks AWS::StackId',
        ...trailFiles,
        ...observing,
      ].sort(),
    );
    expect(statements.every((statement) => statement.Condition === undefined)).toBe(true);
  });

  it('outputs the key operators policy everywhere, the trail and its bucket only where they exist', () => {
    const outputs = template().toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(stackOutputKeysOf(config).sort());
    expect(outputs[STACK_OUTPUTS.keyOperatorsPolicyArn]?.Value).toEqual({
      Ref: logicalId(audit().keyOperatorsPolicy),
    });
    const { trail, bucket } = audit();
    if (!trail || !bucket) {
      for (const key of AUDIT_TRAIL_OUTPUTS) expect(outputs).not.toHaveProperty(key);
      return;
    }
    expect(outputs[STACK_OUTPUTS.auditTrailArn]?.Value).toEqual({ 'Fn::GetAtt': [logicalId(trail), 'Arn'] });
    expect(outputs[STACK_OUTPUTS.auditBucketName]?.Value).toEqual({ Ref: logicalId(bucket) });
  });

  it('records every data event of exactly the keys-admin function, with file validation', () => {
    const { trail, bucket } = audit();
    if (!trail || !bucket) return;
    const properties = template().findResources('AWS::CloudTrail::Trail')[logicalId(trail)]?.Properties;
    expect(properties).toEqual({
      TrailName: auditTrailName(stage),
      IsLogging: true,
      IsMultiRegionTrail: false,
      IncludeGlobalServiceEvents: false,
      EnableLogFileValidation: true,
      S3BucketName: { Ref: logicalId(bucket) },
      EventSelectors: [
        {
          DataResources: [
            {
              Type: 'AWS::Lambda::Function',
              Values: [{ 'Fn::GetAtt': [logicalId(synthesized.stack.keysAdmin.function), 'Arn'] }],
            },
          ],
          IncludeManagementEvents: false,
          ReadWriteType: 'All',
        },
      ],
      Tags: expect.any(Array),
    });
  });

  it('writes to a versioned, encrypted, private bucket that expires files after the retention', () => {
    const { bucket } = audit();
    if (!bucket) return;
    const resource = template().findResources('AWS::S3::Bucket')[logicalId(bucket)];
    const properties = resource?.Properties;
    expect(properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(properties.LifecycleConfiguration.Rules).toEqual([
      {
        Id: 'audit-retention',
        Status: 'Enabled',
        ExpirationInDays: retentionDays(),
        NoncurrentVersionExpiration: { NoncurrentDays: retentionDays() },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
    expect(properties).not.toHaveProperty('LoggingConfiguration');
    // staging and prod keep their data: the trail files outlive the stack.
    expect(resource?.DeletionPolicy).toBe('Retain');
    expect(resource?.UpdateReplacePolicy).toBe('Retain');
  });

  it('lets only TLS requests and only this trail into the bucket', () => {
    const { bucket } = audit();
    if (!bucket) return;
    const bucketId = logicalId(bucket);
    const policies = Object.values(template().findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.Bucket).toEqual({ Ref: bucketId });
    const statements = policies[0]?.Properties.PolicyDocument.Statement as Statement[];
    const bucketAndObjects = [`${bucketId}.Arn`, `${bucketId}.Arn/*`];

    const insecure = statements.find((statement) => statement.Condition?.Bool?.['aws:SecureTransport']);
    expect(insecure).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(asList(insecure?.Resource).map(render)).toEqual(bucketAndObjects);
    const oldTls = statements.find((statement) => statement.Condition?.NumericLessThan);
    expect(oldTls).toMatchObject({
      Effect: 'Deny',
      Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
    });

    const allowed = statements.filter((statement) => statement.Effect === 'Allow');
    expect(allowed.map((statement) => statement.Principal)).toEqual([
      { Service: 'cloudtrail.amazonaws.com' },
      { Service: 'cloudtrail.amazonaws.com' },
    ]);
    expect(triples(allowed)).toEqual(
      [
        `Allow s3:GetBucketAcl ${bucketId}.Arn`,
        `Allow s3:PutObject ${bucketId}.Arn/AWSLogs/AWS::AccountId/*`,
      ].sort(),
    );

    const otherTrails = statements.find((statement) => statement.Sid === 'DenyOtherTrails');
    expect(otherTrails).toMatchObject({
      Effect: 'Deny',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['s3:GetBucketAcl', 's3:PutObject'],
    });
    expect(asList(otherTrails?.Resource).map(render)).toEqual(bucketAndObjects);
    expect(render(otherTrails?.Condition?.StringNotEquals?.['aws:SourceArn'])).toBe(
      `arn:AWS::Partition:cloudtrail:AWS::Region:AWS::AccountId:trail/${auditTrailName(stage)}`,
    );
  });

  it('passes cdk-nag, with a written reason for each audit acknowledgment', () => {
    expect(nagFindings(synthesized.stack)).toEqual([]);
    const acks = acknowledgments(audit())
      .map(({ id, reason }) => ({ id, long: reason.length > 80 }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const bucket = audit().bucket;
    expect(acks).toEqual(
      [
        ...(bucket ? [{ id: `AwsSolutions-IAM5[Resource::<${logicalId(bucket)}.Arn>/*]`, long: true }] : []),
        // The read-only metric and query actions IAM cannot scope (docs/operations.md needs them).
        { id: 'AwsSolutions-IAM5[Resource::*]', long: true },
        ...(bucket ? [{ id: 'AwsSolutions-S1', long: true }] : []),
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
  });
});

describe('dev with the audit turned on in its config', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(stageConfig('dev', { audit: { cloudTrail: true, retentionDays: 30 } }), {
      bundle: false,
    });
  });

  it('gets the trail, a bucket that goes with the stack (dev keeps no data) and its outputs', () => {
    const { template, stack } = synthesized;
    template.resourceCountIs('AWS::CloudTrail::Trail', 1);
    const [bucket] = Object.values(template.findResources('AWS::S3::Bucket'));
    expect(bucket?.DeletionPolicy).toBe('Delete');
    expect(bucket?.Properties.LifecycleConfiguration.Rules[0]).toMatchObject({ ExpirationInDays: 30 });
    // No autoDeleteObjects: it would add a custom-resource function.
    template.resourceCountIs('AWS::Lambda::Function', 5);
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    for (const key of AUDIT_TRAIL_OUTPUTS) expect(outputs).toHaveProperty(key);
    expect(nagFindings(stack)).toEqual([]);
  });
});
