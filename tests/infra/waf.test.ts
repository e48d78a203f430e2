/**
 * Abuse protection (SPEC §7) in every stage: where the stage config turns it on (staging,
 * prod), a REGIONAL WAFv2 web ACL with the per-IP rate-based rule and AWS's IP reputation and
 * known-bad-inputs groups (never the common rule set), associated with the API stage; a
 * blocked request is answered by the WAF_FILTERED gateway response (403 `forbidden` in the
 * envelope); and no DEFAULT_* gateway response sets a status of its own.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { WAF_RULES, webAclName } from '../../infra/constructs/keygate-waf.js';
import { GATEWAY_RESPONSES, gatewayResponse } from '../../infra/gateway-responses.js';
import {
  STAGE_NAMES,
  STAGES,
  type StageConfig,
  type StageName,
  stageConfigSchema,
  WAF_RATE_WINDOW_SECONDS,
} from '../../infra/stages.js';
import { renderGatewayResponse } from '../../local/gateway-responses.js';
import {
  acknowledgments,
  logicalId,
  nagFindings,
  render,
  type Synthesized,
  stageConfig,
  synthesize,
} from './support.js';

const visibility = (metricName: string) => ({
  CloudWatchMetricsEnabled: true,
  MetricName: metricName,
  // Sampled requests would keep request headers (the API key) visible in the WAF console.
  SampledRequestsEnabled: false,
});

/** The rules exactly as the stage's web ACL must hold them. */
function expectedRules(rateLimitPerIp: number) {
  return [
    {
      Name: 'RateLimitPerIp',
      Priority: 0,
      Statement: {
        RateBasedStatement: {
          AggregateKeyType: 'IP',
          Limit: rateLimitPerIp,
          EvaluationWindowSec: WAF_RATE_WINDOW_SECONDS,
        },
      },
      Action: { Block: {} },
      VisibilityConfig: visibility('RateLimitPerIp'),
    },
    {
      Name: 'AWSManagedRulesAmazonIpReputationList',
      Priority: 1,
      Statement: {
        ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' },
      },
      OverrideAction: { None: {} },
      VisibilityConfig: visibility('AWSManagedRulesAmazonIpReputationList'),
    },
    {
      Name: 'AWSManagedRulesKnownBadInputsRuleSet',
      Priority: 2,
      Statement: {
        ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesKnownBadInputsRuleSet' },
      },
      OverrideAction: { None: {} },
      VisibilityConfig: visibility('AWSManagedRulesKnownBadInputsRuleSet'),
    },
  ];
}

describe('stage configuration', () => {
  it('turns the web ACL on in staging and prod with their per-IP limits, and off in dev', () => {
    expect(STAGES.dev.waf).toEqual({ enabled: false });
    expect(STAGES.staging.waf).toEqual({ enabled: true, rateLimitPerIp: 3000 });
    expect(STAGES.prod.waf).toEqual({ enabled: true, rateLimitPerIp: 30_000 });
  });

  it('refuses a limit WAF would refuse, a missing limit and a missing waf block', () => {
    const prod = stageConfig('prod');
    for (const rateLimitPerIp of [9, 0, -1, 100.5, 2_000_000_001]) {
      expect(() => stageConfigSchema.parse({ ...prod, waf: { enabled: true, rateLimitPerIp } })).toThrow(
        /rateLimitPerIp/,
      );
    }
    expect(() => stageConfigSchema.parse({ ...prod, waf: { enabled: true } })).toThrow(/rateLimitPerIp/);
    expect(() => stageConfigSchema.parse({ ...prod, waf: undefined })).toThrow(/waf/);
    expect(stageConfigSchema.parse({ ...prod, waf: { enabled: true, rateLimitPerIp: 10 } }).waf).toEqual({
      enabled: true,
      rateLimitPerIp: 10,
    });
  });
});

describe('gateway responses', () => {
  it('answers WAF_FILTERED with 403 forbidden and a message that names no rule', () => {
    const definition = gatewayResponse('WAF_FILTERED');
    expect(definition).toMatchObject({ statusCode: 403, code: 'forbidden', fromAuthorizer: false });
    expect(definition.keepGatewayStatus).toBeUndefined();
    expect(definition.message).toMatch(/firewall/);
    expect(definition.message).not.toMatch(/["\\]/);
    expect(definition.message).not.toMatch(/rate|reputation|AWSManaged|RateLimit|IP/);
  });

  it('sets no status on any DEFAULT_* response, so uncustomised types keep their own', () => {
    const defaults = GATEWAY_RESPONSES.filter((definition) => definition.type.startsWith('DEFAULT_'));
    expect(defaults.map((definition) => definition.type).sort()).toEqual(['DEFAULT_4XX', 'DEFAULT_5XX']);
    for (const definition of defaults) expect(definition.keepGatewayStatus).toBe(true);
  });

  it('renders the same WAF_FILTERED envelope in the local runtime (which has no WAF to produce it)', () => {
    const answer = renderGatewayResponse('WAF_FILTERED', { requestId: 'req-waf' });
    expect(answer.statusCode).toBe(403);
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({
      success: false,
      error: {
        code: 'forbidden',
        type: 'permission_error',
        message: 'The request was blocked by the web application firewall.',
      },
      request_id: 'req-waf',
    });
    expect(answer.headers).toMatchObject({ 'Content-Type': 'application/json', 'X-Request-Id': 'req-waf' });
    // Locally, unparsable HTTP still gets DEFAULT_4XX with 400, API Gateway's own status for it.
    expect(renderGatewayResponse('DEFAULT_4XX', { requestId: 'r' }).statusCode).toBe(400);
  });
});

describe.each(STAGE_NAMES)('stage %s', (stage: StageName) => {
  let config: StageConfig;
  let synthesized: Synthesized;

  beforeAll(() => {
    config = stageConfig(stage);
    synthesized = synthesize(config, { bundle: false });
  });

  const resources = (type: string) => Object.entries(synthesized.template.findResources(type));
  const stageResource = () => {
    const stages = resources('AWS::ApiGateway::Stage');
    expect(stages).toHaveLength(1);
    const [found] = stages;
    if (!found) throw new Error('no stage');
    return found;
  };
  const gatewayResponseOf = (type: string) =>
    resources('AWS::ApiGateway::GatewayResponse').find(
      ([, resource]) => resource.Properties.ResponseType === type,
    )?.[1];

  it('has a web ACL and its association exactly where the stage config turns the WAF on', () => {
    const count = config.waf.enabled ? 1 : 0;
    synthesized.template.resourceCountIs('AWS::WAFv2::WebACL', count);
    synthesized.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', count);
    expect(synthesized.stack.waf.webAcl === undefined).toBe(!config.waf.enabled);
    expect(config.waf.enabled).toBe(stage !== 'dev');
  });

  it('is a REGIONAL ACL that allows by default, with the rate rule, IP reputation and known bad inputs', () => {
    const { waf } = config;
    if (!waf.enabled) return;
    const [acl] = resources('AWS::WAFv2::WebACL');
    const properties = acl?.[1].Properties;
    expect(properties?.Name).toBe(webAclName(stage));
    expect(properties?.Scope).toBe('REGIONAL');
    expect(properties?.DefaultAction).toEqual({ Allow: {} });
    expect(properties?.VisibilityConfig).toEqual(visibility(`keygate-${stage}`));
    expect(properties?.Rules).toEqual(expectedRules(waf.rateLimitPerIp));
    // Each rule's name and priority come from the one table the docs and metrics use.
    expect(
      ((properties?.Rules ?? []) as Array<{ Name: string; Priority: number }>).map((rule) => [
        rule.Name,
        rule.Priority,
      ]),
    ).toEqual(Object.values(WAF_RULES).map((rule) => [rule.name, rule.priority]));
  });

  it('never uses the common rule set (its 8 KB body rule would block valid requests)', () => {
    const text = JSON.stringify(synthesized.template.toJSON());
    expect(text).not.toContain('AWSManagedRulesCommonRuleSet');
    expect(text).not.toContain('SizeRestrictions');
  });

  it('associates the ACL with the API stage by its ARN, after the stage exists', () => {
    if (!config.waf.enabled) return;
    const [stageId, stageProps] = stageResource();
    expect(stageProps.Properties.StageName).toBe(stage);
    const apiId = logicalId(synthesized.stack.api.api);
    const [aclId] = resources('AWS::WAFv2::WebACL')[0] ?? [];
    const [, association] = resources('AWS::WAFv2::WebACLAssociation')[0] ?? [];
    expect(render(association?.Properties.ResourceArn)).toMatch(
      new RegExp(
        `^arn:AWS::Partition:apigateway:(AWS::Region|[a-z0-9-]+)::/restapis/${apiId}/stages/${stageId}$`,
      ),
    );
    expect(association?.Properties.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    // The ARN's stage name is a Ref to the stage resource: CloudFormation creates the stage first.
    expect(JSON.stringify(association?.Properties.ResourceArn)).toContain(JSON.stringify({ Ref: stageId }));
  });

  it('answers WAF_FILTERED with 403 forbidden in the envelope, with the shared headers', () => {
    const response = gatewayResponseOf('WAF_FILTERED');
    expect(response?.Properties.StatusCode).toBe('403');
    const body = JSON.parse(response?.Properties.ResponseTemplates['application/json']);
    expect(body).toEqual({
      success: false,
      error: {
        code: 'forbidden',
        type: 'permission_error',
        message: 'The request was blocked by the web application firewall.',
      },
      request_id: '$context.requestId',
    });
    expect(response?.Properties.ResponseParameters).toMatchObject({
      'gatewayresponse.header.Content-Type': "'application/json'",
      'gatewayresponse.header.X-Request-Id': 'context.requestId',
      'gatewayresponse.header.Cache-Control': "'no-store'",
    });
    expect(response?.Properties.ResponseParameters).not.toHaveProperty(
      'gatewayresponse.header.WWW-Authenticate',
    );
  });

  it('sets no StatusCode on DEFAULT_4XX or DEFAULT_5XX (only the envelope and headers)', () => {
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      const response = gatewayResponseOf(type);
      expect(response).toBeDefined();
      expect(response?.Properties).not.toHaveProperty('StatusCode');
      expect(response?.Properties.ResponseTemplates['application/json']).toContain('"success":false');
      expect(response?.Properties.ResponseParameters).toHaveProperty('gatewayresponse.header.Content-Type');
    }
  });

  it('passes cdk-nag, acknowledging APIG3 (WAF) only on a stage without the web ACL', () => {
    expect(nagFindings(synthesized.stack)).toEqual([]);
    const apig3 = acknowledgments(synthesized.stack).filter((ack) => ack.id === 'AwsSolutions-APIG3');
    if (config.waf.enabled) {
      expect(apig3).toEqual([]);
      return;
    }
    expect(apig3).toHaveLength(1);
    expect(apig3[0]?.path).toBe(synthesized.stack.api.api.deploymentStage.node.path);
    expect(apig3[0]?.reason.length).toBeGreaterThan(80);
  });
});

describe('dev with the WAF turned on in its config', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(stageConfig('dev', { waf: { enabled: true, rateLimitPerIp: 500 } }), {
      bundle: false,
    });
  });

  it('gets the web ACL with its own limit, the association, and no APIG3 acknowledgment', () => {
    const { template, stack } = synthesized;
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    const [acl] = Object.values(template.findResources('AWS::WAFv2::WebACL'));
    expect(acl?.Properties.Name).toBe('keygate-dev');
    expect(acl?.Properties.Rules).toEqual(expectedRules(500));
    expect(acknowledgments(stack).filter((ack) => ack.id === 'AwsSolutions-APIG3')).toEqual([]);
    expect(nagFindings(stack)).toEqual([]);
  });
});
