/**
 * The REST API, built from the one route table, authorizer wiring and gateway responses
 * in `infra/routes.ts` and `infra/gateway-responses.ts` (the local runtime emulates API Gateway
 * from the same modules).
 *
 * HTTPS only: API Gateway has no plain-HTTP endpoint at all; the API (and the custom
 * domain, when configured) use the enhanced TLS 1.3/1.2 security policy; a resource policy
 * denies `aws:SecureTransport = false` as defence in depth; every answer carries HSTS.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import type { FunctionName } from '../functions.js';
import { GATEWAY_RESPONSES, gatewayResponseHeaders, gatewayResponseTemplate } from '../gateway-responses.js';
import { acknowledge } from '../nag.js';
import { requestBodyJsonSchema } from '../openapi.js';
import { toApiGatewaySchema } from '../request-model.js';
import { AUTHORIZER, type RequestBodyName, ROUTES } from '../routes.js';
import { type StageConfig, TLS_SECURITY_POLICY } from '../stages.js';

export interface KeygateApiProps {
  config: StageConfig;
  /** The deployed functions by route-table name (the brain is not needed by the API). */
  functions: Partial<Record<FunctionName, lambda.IFunction>>;
  logRetention: logs.RetentionDays;
}

/** The enhanced policy of SPEC §7, checked against the values this aws-cdk-lib knows. */
export function securityPolicy(): apigw.SecurityPolicy {
  const known = Object.values(apigw.SecurityPolicy) as string[];
  if (!known.includes(TLS_SECURITY_POLICY)) {
    throw new Error(`aws-cdk-lib does not know the security policy ${TLS_SECURITY_POLICY}`);
  }
  return TLS_SECURITY_POLICY as apigw.SecurityPolicy;
}

/** One JSON object per request; never headers or bodies, so never a key. */
const ACCESS_LOG_FIELDS = {
  requestId: apigw.AccessLogField.contextRequestId(),
  extendedRequestId: apigw.AccessLogField.contextExtendedRequestId(),
  requestTimeEpoch: apigw.AccessLogField.contextRequestTimeEpoch(),
  sourceIp: apigw.AccessLogField.contextIdentitySourceIp(),
  userAgent: apigw.AccessLogField.contextIdentityUserAgent(),
  domainName: apigw.AccessLogField.contextDomainName(),
  protocol: apigw.AccessLogField.contextProtocol(),
  tlsVersion: '$context.tlsVersion',
  cipherSuite: '$context.cipherSuite',
  httpMethod: apigw.AccessLogField.contextHttpMethod(),
  resourcePath: apigw.AccessLogField.contextResourcePath(),
  status: apigw.AccessLogField.contextStatus(),
  responseLength: apigw.AccessLogField.contextResponseLength(),
  responseLatency: apigw.AccessLogField.contextResponseLatency(),
  errorType: apigw.AccessLogField.contextErrorResponseType(),
  authorizerStatus: apigw.AccessLogField.contextAuthorizerStatus(),
  authorizerLatency: apigw.AccessLogField.contextAuthorizerLatency(),
  userId: apigw.AccessLogField.contextAuthorizer('userId'),
  keyId: apigw.AccessLogField.contextAuthorizer('keyId'),
  integrationStatus: apigw.AccessLogField.contextIntegrationStatus(),
  integrationLatency: apigw.AccessLogField.contextIntegrationLatency(),
  xrayTraceId: apigw.AccessLogField.contextXrayTraceId(),
};

/** The API Gateway model of each route body: its name, and what it is the body of. */
const REQUEST_MODELS: Record<RequestBodyName, { modelName: string; what: string }> = {
  requests: { modelName: 'RequestBody', what: 'POST /api/v1/requests' },
  'chat-completions': {
    modelName: 'ChatCompletionBody',
    what: 'POST /v1/chat/completions (OpenAI chat completions)',
  },
  'anthropic-messages': {
    modelName: 'AnthropicMessagesBody',
    what: 'POST /v1/messages (Anthropic Messages)',
  },
  'anthropic-count-tokens': {
    modelName: 'AnthropicCountTokensBody',
    what: 'POST /v1/messages/count_tokens (Anthropic token count)',
  },
  responses: { modelName: 'ResponsesBody', what: 'POST /v1/responses (OpenAI Responses)' },
  'secret-scanning': {
    modelName: 'LeakReportBody',
    what: 'POST /api/v1/secret-scanning/github (GitHub secret scanning report)',
  },
};

export class KeygateApi extends Construct {
  readonly api: apigw.RestApi;
  readonly accessLogGroup: logs.LogGroup;
  readonly domain: apigw.DomainName | undefined;
  /** The base URL clients use: the custom domain when configured, else the execute-api stage URL. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: KeygateApiProps) {
    super(scope, id);
    const { config } = props;
    const customDomain = config.customDomain;
    const endpointAccessMode = customDomain?.endpointAccessMode ?? 'STRICT';

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `keygate-${config.stage}`,
      description: `keygate ${config.stage}: API keys in front of the agentic brain`,
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // With a custom domain, clients must use it (its TLS policy, its certificate).
      disableExecuteApiEndpoint: customDomain !== undefined,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'AllowInvokeBehindTheAuthorizer',
            effect: iam.Effect.ALLOW,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
          }),
          new iam.PolicyStatement({
            sid: 'DenyInsecureTransport',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      }),
      // API Gateway needs an account-level role to write access/execution logs.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: config.stage,
        throttlingRateLimit: config.throttle.rateLimit,
        throttlingBurstLimit: config.throttle.burstLimit,
        tracingEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Never log request/response data: it would include the API key header.
        dataTraceEnabled: false,
        metricsEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    // The stack exports one URL (ApiUrl: the custom domain when there is one), not CDK's default.
    this.api.node.tryRemoveChild('Endpoint');

    // The enhanced TLS policy on the API's own endpoint too (the default would be TLS_1_0).
    const cfnApi = this.api.node.defaultChild as apigw.CfnRestApi;
    cfnApi.securityPolicy = securityPolicy();
    cfnApi.endpointAccessMode = endpointAccessMode;

    acknowledge(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'The account-level API Gateway CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the AWS-documented policy for writing access and execution logs; it is the only AWS managed policy in the stack.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'Callers authenticate with keygate API keys (hashed in DynamoDB) through the REQUEST Lambda authorizer; there are no Cognito users (SPEC §3, §5).',
    );
    // AwsSolutions-APIG3 (WAF): the stack associates the stage's web ACL (infra/constructs/keygate-waf.ts),
    // which acknowledges the finding only where the stage config has none.

    const authorizerFn = this.functionFor(props, AUTHORIZER.handler);
    const authorizer = new apigw.RequestAuthorizer(this, 'KeyAuthorizer', {
      handler: authorizerFn,
      // The key may come in `Authorization: Bearer` or `X-API-Key`: no single identity source,
      // and no result cache (a revoked key must fail on the very next request; SPEC §5, §7).
      // CDK accepts an empty list only because the TTL is 0.
      identitySources: [...AUTHORIZER.identitySources],
      resultsCacheTtl: Duration.seconds(AUTHORIZER.resultsCacheTtlSeconds),
    });
    if (AUTHORIZER.identitySources.length === 0) {
      // CDK renders the empty list as `IdentitySource: ""`; omit the property instead, which
      // is what API Gateway documents for a REQUEST authorizer without caching.
      (authorizer.node.defaultChild as apigw.CfnAuthorizer).addPropertyDeletionOverride('IdentitySource');
    }

    // One model per route body, each generated from its zod schema.
    const models = Object.fromEntries(
      Object.entries(REQUEST_MODELS).map(([body, { modelName, what }]) => [
        body,
        this.api.addModel(modelName, {
          modelName,
          contentType: 'application/json',
          description: `${what} body, generated from the zod schema`,
          schema: toApiGatewaySchema(requestBodyJsonSchema('draft-4', body as RequestBodyName)),
        }),
      ]),
    ) as Record<RequestBodyName, apigw.Model>;
    // The requests function is the authoritative validator: SPEC §3 wants every 400 to list
    // every bad field in `details`, which API Gateway's BAD_REQUEST_BODY cannot produce, and
    // the local runtime must answer identically. So the body is NOT validated here; the model
    // documents the API (SDK generation, console). See docs/decisions/0005-request-validation.md.
    const validator = this.api.addRequestValidator('ParametersValidator', {
      requestValidatorName: 'parameters-only',
      validateRequestBody: false,
      validateRequestParameters: true,
    });
    acknowledge(
      this.api,
      'AwsSolutions-APIG2',
      'Request bodies are validated by the requests function with the zod schema (the same one the model is generated from), because SPEC §3 requires 400 answers whose `details` name every bad field, which API Gateway cannot produce; parameter validation is on (docs/decisions/0005-request-validation.md).',
    );

    for (const route of ROUTES) {
      const resource = this.api.root.resourceForPath(route.path);
      const integration = new apigw.LambdaIntegration(this.functionFor(props, route.handler), {
        proxy: true,
        allowTestInvoke: false,
        // InvokeWithResponseStream: the answer passes on as the function writes it (SPEC §7).
        ...(route.responseTransfer === 'STREAM'
          ? { responseTransferMode: apigw.ResponseTransferMode.STREAM }
          : {}),
      });
      const auth: apigw.MethodOptions = route.authorized
        ? { authorizer, authorizationType: apigw.AuthorizationType.CUSTOM }
        : { authorizationType: apigw.AuthorizationType.NONE };
      const methods = route.methods.map((method) =>
        resource.addMethod(method, integration, {
          ...auth,
          requestValidator: validator,
          ...(route.body ? { requestModels: { 'application/json': models[route.body] } } : {}),
        }),
      );
      // Every other method reaches the function too (after the authorizer, where there is one)
      // and gets 405, so AWS and the local runtime agree: authentication first, then 405.
      methods.push(resource.addMethod('ANY', integration, { ...auth, requestValidator: validator }));
      if (!route.authorized) {
        for (const method of methods) {
          acknowledge(
            method,
            'AwsSolutions-APIG4',
            `${route.path} has no API Gateway authorizer on purpose: its caller (GitHub secret scanning) has no keygate key; the ${route.handler} function authenticates every call by GitHub's ECDSA P-256 signature over the raw body, checked against GitHub's published keys, and refuses (401) before doing anything (SPEC §3c).`,
          );
          acknowledge(
            method,
            'AwsSolutions-COG4',
            `${route.path} is called by GitHub, not by Cognito users: the ${route.handler} function authenticates every call by GitHub's ECDSA P-256 signature over the raw body (SPEC §3c).`,
          );
        }
      }
    }

    for (const definition of GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(`Response${definition.type}`, {
        type: apigw.ResponseType.of(definition.type),
        // DEFAULT_4XX and DEFAULT_5XX set no status: an uncustomised 4xx or 5xx keeps API
        // Gateway's own (a status here would rewrite every one of them).
        ...(definition.keepGatewayStatus ? {} : { statusCode: String(definition.statusCode) }),
        responseHeaders: gatewayResponseHeaders(definition),
        templates: { 'application/json': gatewayResponseTemplate(definition) },
      });
    }

    if (customDomain) {
      this.domain = new apigw.DomainName(this, 'Domain', {
        domainName: customDomain.domainName,
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', customDomain.certificateArn),
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: securityPolicy(),
        endpointAccessMode:
          endpointAccessMode === 'STRICT' ? apigw.EndpointAccessMode.STRICT : apigw.EndpointAccessMode.BASIC,
        mapping: this.api,
      });
      const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: customDomain.hostedZoneId,
        zoneName: customDomain.hostedZoneName,
      });
      new route53.ARecord(this, 'AliasRecord', {
        zone,
        recordName: customDomain.domainName,
        target: route53.RecordTarget.fromAlias(new targets.ApiGatewayDomain(this.domain)),
      });
      this.url = `https://${customDomain.domainName}/`;
    } else {
      this.domain = undefined;
      this.url = this.api.url;
    }
  }

  private functionFor(props: KeygateApiProps, name: FunctionName): lambda.IFunction {
    const fn = props.functions[name];
    if (!fn) throw new Error(`the route table needs function "${name}", which the stack did not create`);
    return fn;
  }
}
