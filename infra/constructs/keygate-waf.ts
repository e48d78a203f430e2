/**
 * Abuse protection of the API stage (SPEC §7): where the stage config turns it on, a REGIONAL
 * WAFv2 web ACL associated with the stage, which allows by default and blocks, in this order:
 *
 * 1. an IP address that made more than `waf.rateLimitPerIp` requests in 5 minutes
 *    (rate-based rule, aggregate key IP: the caller's own address, never a forwarded header);
 * 2. addresses on AWS's IP reputation list (`AWSManagedRulesAmazonIpReputationList`);
 * 3. known-bad inputs (`AWSManagedRulesKnownBadInputsRuleSet`: Log4j/Java deserialization
 *    exploits, exploitable paths, `Host: localhost`, PROPFIND).
 *
 * Not AWS's common rule set: its `SizeRestrictions_BODY` blocks every body over 8 KB, and a
 * valid request may carry up to 1 MB (SPEC §3). A blocked request never reaches the
 * authorizer: API Gateway answers it with the `WAF_FILTERED` gateway response, 403
 * `forbidden` in the envelope (infra/gateway-responses.ts).
 *
 * Without the web ACL (dev by default) the stage acknowledges cdk-nag's AwsSolutions-APIG3.
 */
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import { type StageConfig, WAF_RATE_WINDOW_SECONDS } from '../stages.js';

/** The web ACL's name, which is also its CloudWatch metric name (dimension `WebACL`). */
export function webAclName(stage: StageConfig['stage']): string {
  return `keygate-${stage}`;
}

/** The rules in priority order; each rule's name is also its metric name (dimension `Rule`). */
export const WAF_RULES = {
  rateLimitPerIp: { name: 'RateLimitPerIp', priority: 0 },
  ipReputation: {
    name: 'AWSManagedRulesAmazonIpReputationList',
    priority: 1,
    managedRuleGroup: 'AWSManagedRulesAmazonIpReputationList',
  },
  knownBadInputs: {
    name: 'AWSManagedRulesKnownBadInputsRuleSet',
    priority: 2,
    managedRuleGroup: 'AWSManagedRulesKnownBadInputsRuleSet',
  },
} as const;

export interface KeygateWafProps {
  config: Pick<StageConfig, 'stage' | 'waf'>;
  /** The API stage the web ACL protects. */
  stage: apigw.Stage;
}

/**
 * CloudWatch metrics on, sampled requests off: WAF keeps sampled requests with their headers,
 * `Authorization` and `X-API-Key` included, and shows them to anyone allowed
 * `wafv2:GetSampledRequests`; keygate never stores or logs a key in clear.
 */
const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
  cloudWatchMetricsEnabled: true,
  sampledRequestsEnabled: false,
  metricName,
});

const managedRule = (rule: {
  name: string;
  priority: number;
  managedRuleGroup: string;
}): wafv2.CfnWebACL.RuleProperty => ({
  name: rule.name,
  priority: rule.priority,
  statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: rule.managedRuleGroup } },
  // `none`: the group's own rule actions (block) apply.
  overrideAction: { none: {} },
  visibilityConfig: visibility(rule.name),
});

export class KeygateWaf extends Construct {
  /** `undefined` where the stage has no web ACL (`waf.enabled: false`). */
  readonly webAcl: wafv2.CfnWebACL | undefined;
  readonly association: wafv2.CfnWebACLAssociation | undefined;

  constructor(scope: Construct, id: string, props: KeygateWafProps) {
    super(scope, id);
    const { config, stage } = props;

    if (!config.waf.enabled) {
      this.webAcl = undefined;
      this.association = undefined;
      acknowledge(
        stage,
        'AwsSolutions-APIG3',
        `No web ACL in ${config.stage}, by its stage config (waf.enabled false): it holds only test keys, every method is behind the key authorizer (the secret-scanning route behind GitHub's signature, checked by its function) and stage throttling, and a web ACL costs a monthly fee per ACL and rule; staging and prod have one (infra/constructs/keygate-waf.ts).`,
      );
      return;
    }

    const name = webAclName(config.stage);
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: `keygate ${config.stage}: per-IP rate limit, AWS IP reputation and known bad inputs`,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name),
      rules: [
        {
          name: WAF_RULES.rateLimitPerIp.name,
          priority: WAF_RULES.rateLimitPerIp.priority,
          statement: {
            rateBasedStatement: {
              aggregateKeyType: 'IP',
              limit: config.waf.rateLimitPerIp,
              evaluationWindowSec: WAF_RATE_WINDOW_SECONDS,
            },
          },
          action: { block: {} },
          visibilityConfig: visibility(WAF_RULES.rateLimitPerIp.name),
        },
        managedRule(WAF_RULES.ipReputation),
        managedRule(WAF_RULES.knownBadInputs),
      ],
    });

    this.association = new wafv2.CfnWebACLAssociation(this, 'Association', {
      // arn:aws:apigateway:{region}::/restapis/{id}/stages/{stage}. The stage name in it is a
      // Ref to the stage resource, so CloudFormation creates the stage first (an explicit
      // DependsOn would be redundant: cfn-lint W3005).
      resourceArn: stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
