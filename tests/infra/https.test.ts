/**
 * HTTPS enforcement (SPEC §7): nothing in any stage can listen on plain HTTP, the API
 * refuses non-TLS requests, and a configured custom domain uses the enhanced TLS policy,
 * STRICT access mode and replaces the execute-api endpoint.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { STACK_OUTPUTS } from '../../infra/outputs.js';
import { STAGE_NAMES, TLS_SECURITY_POLICY } from '../../infra/stages.js';
import { CUSTOM_DOMAIN, nagFindings, type Synthesized, stageConfig, synthesize } from './support.js';

/**
 * Every resource type the stack may contain. None of them serves HTTP: the only endpoint
 * is API Gateway (REST, TLS only). A new type (a load balancer listener, CloudFront, a
 * Lambda function URL, an HTTP API…) fails this test until it is reviewed and added here.
 */
const REVIEWED_RESOURCE_TYPES = new Set([
  'AWS::ApiGateway::Account',
  'AWS::ApiGateway::Authorizer',
  'AWS::ApiGateway::BasePathMapping',
  'AWS::ApiGateway::Deployment',
  'AWS::ApiGateway::DomainName',
  'AWS::ApiGateway::GatewayResponse',
  'AWS::ApiGateway::Method',
  'AWS::ApiGateway::Model',
  'AWS::ApiGateway::RequestValidator',
  'AWS::ApiGateway::Resource',
  'AWS::ApiGateway::RestApi',
  'AWS::ApiGateway::Stage',
  'AWS::CDK::Metadata',
  // The keys-admin audit trail and its bucket (no website configuration; TLS-only policy).
  'AWS::CloudTrail::Trail',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::DynamoDB::Table',
  'AWS::IAM::ManagedPolicy',
  'AWS::IAM::Policy',
  'AWS::IAM::Role',
  'AWS::Lambda::Function',
  'AWS::Lambda::Permission',
  'AWS::Logs::LogGroup',
  'AWS::Logs::QueryDefinition',
  'AWS::Route53::RecordSet',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
  'AWS::SNS::Subscription',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  // The stage's web ACL (staging, prod): it filters the API's requests and serves nothing itself.
  'AWS::WAFv2::WebACL',
  'AWS::WAFv2::WebACLAssociation',
]);

const resourceTypes = (template: Template): string[] => [
  ...new Set(
    Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type),
  ),
];

describe.each(STAGE_NAMES)('stage %s without a custom domain', (stage) => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(stageConfig(stage), { bundle: false });
  });

  it('contains no resource that could listen on plain HTTP', () => {
    const unreviewed = resourceTypes(synthesized.template).filter(
      (type) => !REVIEWED_RESOURCE_TYPES.has(type),
    );
    expect(unreviewed).toEqual([]);
    for (const type of [
      'AWS::ElasticLoadBalancingV2::Listener',
      'AWS::CloudFront::Distribution',
      'AWS::Lambda::Url',
    ]) {
      synthesized.template.resourceCountIs(type, 0);
    }
    for (const bucket of Object.values(synthesized.template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.Properties).not.toHaveProperty('WebsiteConfiguration');
    }
  });

  it('serves the API only through its TLS endpoint, denying requests without SecureTransport', () => {
    const [api] = Object.values(synthesized.template.findResources('AWS::ApiGateway::RestApi'));
    expect(api?.Properties.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    expect(api?.Properties.SecurityPolicy).toBe(TLS_SECURITY_POLICY);
    const deny = api?.Properties.Policy.Statement.find(
      (statement: { Effect: string }) => statement.Effect === 'Deny',
    );
    expect(deny).toMatchObject({
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('has no custom domain and keeps the execute-api endpoint', () => {
    synthesized.template.resourceCountIs('AWS::ApiGateway::DomainName', 0);
    synthesized.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      DisableExecuteApiEndpoint: false,
    });
  });
});

describe('a stage with a custom domain', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(stageConfig('prod', { customDomain: CUSTOM_DOMAIN }), { bundle: false });
  });

  it('uses the enhanced TLS 1.3/1.2 policy with STRICT endpoint access on a regional domain', () => {
    synthesized.template.resourceCountIs('AWS::ApiGateway::DomainName', 1);
    synthesized.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: CUSTOM_DOMAIN.domainName,
      RegionalCertificateArn: CUSTOM_DOMAIN.certificateArn,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09',
      EndpointAccessMode: 'STRICT',
    });
  });

  it('disables the execute-api endpoint so clients must use the domain', () => {
    synthesized.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      DisableExecuteApiEndpoint: true,
      SecurityPolicy: TLS_SECURITY_POLICY,
      EndpointAccessMode: 'STRICT',
    });
  });

  it('maps the domain to the API stage and aliases it in the hosted zone', () => {
    synthesized.template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    synthesized.template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: `${CUSTOM_DOMAIN.domainName}.`,
      Type: 'A',
      HostedZoneId: CUSTOM_DOMAIN.hostedZoneId,
    });
  });

  it('outputs the custom domain as the API URL', () => {
    const outputs = synthesized.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs[STACK_OUTPUTS.apiUrl]?.Value).toBe(`https://${CUSTOM_DOMAIN.domainName}/`);
  });

  it('still contains nothing that could listen on plain HTTP, and passes cdk-nag', () => {
    const unreviewed = resourceTypes(synthesized.template).filter(
      (type) => !REVIEWED_RESOURCE_TYPES.has(type),
    );
    expect(unreviewed).toEqual([]);
    expect(nagFindings(synthesized.stack)).toEqual([]);
  });
});

describe('a custom domain in BASIC endpoint access mode (per-stage override)', () => {
  it('applies BASIC to the domain and the API', () => {
    const { template } = synthesize(
      stageConfig('staging', { customDomain: { ...CUSTOM_DOMAIN, endpointAccessMode: 'BASIC' } }),
      { bundle: false },
    );
    template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      SecurityPolicy: TLS_SECURITY_POLICY,
      EndpointAccessMode: 'BASIC',
    });
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointAccessMode: 'BASIC' });
  });
});
