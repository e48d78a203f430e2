/**
 * CDK assertions on the synthesized template of every stage (bundled for real with the
 * local esbuild, as `cdk synth` does): tables, functions, API, authorizer, gateway
 * responses, least-privilege IAM, alarms, outputs and cdk-nag.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { BRAIN_FAILURE_OUTCOMES } from '../../infra/constructs/keygate-alarms.js';
import type { KeygateFunction } from '../../infra/constructs/keygate-function.js';
import {
  GATEWAY_RESPONSES,
  gatewayResponseHeaders,
  gatewayResponseTemplate,
} from '../../infra/gateway-responses.js';
import { requestBodyJsonSchema } from '../../infra/openapi.js';
import { STACK_OUTPUTS, stackOutputKeysOf } from '../../infra/outputs.js';
import { STAGE_NAMES, type StageConfig, type StageName, TLS_SECURITY_POLICY } from '../../infra/stages.js';
import { invokeFunction } from '../../local/functions.js';
import { API_KEYS_INDEX_ATTRIBUTES, USER_ID_INDEX } from '../../shared/adapters/dynamodb/tables.js';
import { keyEnvironmentOfStage } from '../../shared/domain/keys/format.js';
import { SECURITY_HEADERS } from '../../shared/errors.js';
import {
  acknowledgments,
  logicalId,
  nagFindings,
  PLACEHOLDER_BRAIN_ARN,
  permissionsOf,
  render,
  type Synthesized,
  stageConfig,
  synthesize,
} from './support.js';

/** The routes behind the key authorizer, on the requests function (SPEC §7). */
const KEYED_PATHS = [
  '/api/v1/requests',
  '/v1/chat/completions',
  '/v1/models',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/responses',
];
const asRecord = (value: unknown): Record<string, unknown> => value as Record<string, unknown>;

describe.each(STAGE_NAMES)('stage %s', (stage: StageName) => {
  let config: StageConfig;
  let synthesized: Synthesized;

  beforeAll(() => {
    config = stageConfig(stage);
    synthesized = synthesize(config, { bundle: true });
  });

  const template = () => synthesized.template;
  const stack = () => synthesized.stack;
  const id = (construct: Parameters<typeof logicalId>[0]) => logicalId(construct);

  describe('tables', () => {
    it('keys ApiKeys by key_hash with the user_id GSI projecting only stable attributes', () => {
      const properties =
        template().findResources('AWS::DynamoDB::Table')[id(stack().tables.apiKeys)]?.Properties;
      expect(properties.KeySchema).toEqual([{ AttributeName: 'key_hash', KeyType: 'HASH' }]);
      expect(properties.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: USER_ID_INDEX,
          KeySchema: [
            { AttributeName: 'user_id', KeyType: 'HASH' },
            { AttributeName: 'created_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...API_KEYS_INDEX_ATTRIBUTES] },
        },
      ]);
      const projected: string[] = properties.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes;
      expect(projected).not.toContain('usage_count');
      expect(projected).not.toContain('last_used_at');
    });

    it('keys Users by user_id, UserKeys by user_id + key_id, Idempotency by id with a TTL attribute and Budgets by budget_id', () => {
      const tables = template().findResources('AWS::DynamoDB::Table');
      expect(tables[id(stack().tables.users)]?.Properties.KeySchema).toEqual([
        { AttributeName: 'user_id', KeyType: 'HASH' },
      ]);
      // A user's key references: user_id + key_id, so a user's keys are a strongly consistent Query.
      expect(tables[id(stack().tables.userKeys)]?.Properties.KeySchema).toEqual([
        { AttributeName: 'user_id', KeyType: 'HASH' },
        { AttributeName: 'key_id', KeyType: 'RANGE' },
      ]);
      expect(tables[id(stack().tables.userKeys)]?.Properties.GlobalSecondaryIndexes).toBeUndefined();
      const idempotency = tables[id(stack().tables.idempotency)]?.Properties;
      expect(idempotency.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
      expect(idempotency.TimeToLiveSpecification).toEqual({
        AttributeName: 'expires_at_epoch',
        Enabled: true,
      });
      // One item per budget; no index and no TTL: a budget lives as long as a key names it.
      const budgets = tables[id(stack().tables.budgets)]?.Properties;
      expect(budgets.KeySchema).toEqual([{ AttributeName: 'budget_id', KeyType: 'HASH' }]);
      expect(budgets.GlobalSecondaryIndexes).toBeUndefined();
      expect(budgets.TimeToLiveSpecification).toBeUndefined();
    });

    it('makes every table on-demand, encrypted with the AWS-managed key and point-in-time recoverable', () => {
      template().resourceCountIs('AWS::DynamoDB::Table', 5);
      template().allResourcesProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    });

    it('retains and deletion-protects the tables outside dev, and destroys them in dev', () => {
      const retain = stage !== 'dev';
      template().allResources('AWS::DynamoDB::Table', {
        DeletionPolicy: retain ? 'Retain' : 'Delete',
        UpdateReplacePolicy: retain ? 'Retain' : 'Delete',
        Properties: Match.objectLike({ DeletionProtectionEnabled: retain }),
      });
    });
  });

  describe('functions', () => {
    it('deploys the reference brain in dev only', () => {
      template().resourceCountIs('AWS::Lambda::Function', stage === 'dev' ? 5 : 4);
      expect(stack().referenceBrain === undefined).toBe(stage !== 'dev');
    });

    it('runs every function on Node.js 24, arm64, with X-Ray and its own log group', () => {
      template().allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: Match.objectLike({ Ref: Match.anyValue() }) },
        Environment: {
          Variables: Match.objectLike({
            POWERTOOLS_METRICS_NAMESPACE: 'keygate',
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
    });

    it('keeps every log group for the stage retention', () => {
      template().allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: config.logRetentionDays });
    });

    it('bundles each function as minified ESM with a source map and a require shim', () => {
      const outdir = synthesized.app.outdir;
      const functions = template().findResources('AWS::Lambda::Function');
      for (const fn of Object.values(functions)) {
        const key = String(fn.Properties.Code.S3Key);
        const asset = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
        const code = readFileSync(join(asset, 'index.mjs'), 'utf8');
        expect(code.startsWith('import { createRequire as __keygateCreateRequire }')).toBe(true);
        expect(code).toMatch(/export\s*\{[^}]*as handler/);
        expect(existsSync(join(asset, 'index.mjs.map'))).toBe(true);
      }
    });

    it('ships bundles that load as ESM and answer without any network call', async () => {
      if (stage !== 'dev') return; // dev holds all five functions
      vi.stubEnv('API_KEYS_TABLE', 'keys');
      vi.stubEnv('KEY_ENVIRONMENT', keyEnvironmentOfStage(stage));
      vi.stubEnv('USERS_TABLE', 'users');
      vi.stubEnv('USER_KEYS_TABLE', 'user-keys');
      vi.stubEnv('IDEMPOTENCY_TABLE', 'idempotency');
      vi.stubEnv('BUDGETS_TABLE', 'budgets');
      vi.stubEnv('BRAIN_FUNCTION_NAME', 'brain');
      // A fixed (empty) key document: the secret-scanning bundle never asks GitHub here.
      vi.stubEnv('SECRET_SCANNING_PUBLIC_KEYS', '{"public_keys":[]}');
      const functions = template().findResources('AWS::Lambda::Function');
      const load = async (fn: { function: Parameters<typeof logicalId>[0] }) => {
        const key = String(functions[id(fn.function)]?.Properties.Code.S3Key).replace(/\.zip$/, '');
        const url = pathToFileURL(join(synthesized.app.outdir, `asset.${key}`, 'index.mjs')).href;
        return ((await import(url)) as { handler: (event: unknown, context?: unknown) => Promise<unknown> })
          .handler;
      };
      try {
        const authorizer = await load(stack().authorizer);
        expect(await authorizer({ type: 'REQUEST', methodArn: 'arn:x', headers: {} })).toMatchObject({
          policyDocument: { Statement: [{ Effect: 'Deny' }] },
          context: { reason: 'missing' },
        });
        // The requests function streams: run it as the Lambda runtime runs a streaming handler.
        const requests = await load(stack().requests);
        const authorizerContext = { userId: 'u-1', keyId: 'key_1', projectId: 'default' };
        const streamed = await invokeFunction(
          { name: 'requests', timeoutMs: 5_000, handler: requests as never },
          {
            httpMethod: 'GET',
            headers: {},
            requestContext: { requestId: 'r-1', authorizer: authorizerContext },
          },
        );
        if (!streamed.ok) throw new Error(streamed.error.errorMessage);
        const prelude = new TextDecoder().decode(streamed.payload).split('\u0000')[0] ?? '';
        expect(JSON.parse(prelude)).toMatchObject({ statusCode: 405 });
        const keysAdmin = await load(stack().keysAdmin);
        expect(await keysAdmin({ action: 'nope' })).toMatchObject({ ok: false });
        const secretScanning = await load(stack().secretScanning);
        expect(
          await secretScanning({ httpMethod: 'GET', headers: {}, requestContext: { requestId: 'r-2' } }),
        ).toMatchObject({ statusCode: 405 });
        const brain = stack().referenceBrain;
        if (brain) {
          const answered = await invokeFunction(
            { name: 'reference-brain', timeoutMs: 5_000, handler: (await load(brain)) as never },
            {},
          );
          if (!answered.ok) throw new Error(answered.error.errorMessage);
          expect(JSON.parse(new TextDecoder().decode(answered.payload))).toMatchObject({ success: false });
        }
      } finally {
        vi.unstubAllEnvs();
      }
    });

    it('ships the tracer as a file of its own beside each bundle, mapped by the package.json', () => {
      const functions = template().findResources('AWS::Lambda::Function');
      for (const fn of [stack().authorizer, stack().requests, stack().keysAdmin, stack().secretScanning]) {
        const key = String(functions[id(fn.function)]?.Properties.Code.S3Key).replace(/\.zip$/, '');
        const dir = join(synthesized.app.outdir, `asset.${key}`);
        // The handler bundle never contains the X-Ray SDK: a cold start without tracing does not parse it.
        expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).not.toContain('AWSXRay');
        expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).toContain('#tracer-runtime');
        expect(readFileSync(join(dir, 'tracer-runtime.mjs'), 'utf8')).toContain('AWSXRay');
        expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toEqual({
          type: 'module',
          imports: { '#tracer-runtime': './tracer-runtime.mjs' },
        });
        // What Node.js resolves there, as Lambda's runtime will: the shipped file exports the tracer.
        const exported = execFileSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            "const m = await import('#tracer-runtime'); console.log(typeof m.Tracer, typeof m.captureLambdaHandler);",
          ],
          { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
        );
        expect(exported.trim()).toBe('function function');
      }
    });

    it('tells the functions that handle keys which keys the stage issues and accepts (SPEC §5)', () => {
      const variablesOf = (fn: KeygateFunction) =>
        template().findResources('AWS::Lambda::Function')[id(fn.function)]?.Properties.Environment.Variables;
      const expected = stage === 'prod' ? 'live' : 'test';
      expect(variablesOf(stack().authorizer)).toMatchObject({ KEY_ENVIRONMENT: expected });
      expect(variablesOf(stack().keysAdmin)).toMatchObject({ KEY_ENVIRONMENT: expected });
      expect(variablesOf(stack().secretScanning)).toMatchObject({ KEY_ENVIRONMENT: expected });
      expect(variablesOf(stack().requests)).not.toHaveProperty('KEY_ENVIRONMENT');
    });

    it('gives the secret-scanning function the keys table and the alarm topic, nothing else', () => {
      const functions = template().findResources('AWS::Lambda::Function');
      const fn = functions[id(stack().secretScanning.function)]?.Properties;
      expect(fn.MemorySize).toBe(512);
      expect(fn.Timeout).toBe(10);
      expect(fn.Environment.Variables).toEqual({
        POWERTOOLS_SERVICE_NAME: 'secret-scanning',
        POWERTOOLS_METRICS_NAMESPACE: 'keygate',
        KEYGATE_STAGE: stage,
        NODE_OPTIONS: '--enable-source-maps',
        API_KEYS_TABLE: { Ref: id(stack().tables.apiKeys) },
        KEY_ENVIRONMENT: keyEnvironmentOfStage(stage),
        ALARM_TOPIC_ARN: { Ref: id(stack().alarms.topic) },
      });
      // Deployed stages fetch GitHub's keys: no key document in the environment.
      expect(fn.Environment.Variables).not.toHaveProperty('SECRET_SCANNING_PUBLIC_KEYS');
      // Only the secret-scanning function is told the topic.
      for (const other of [stack().authorizer, stack().requests, stack().keysAdmin, stack().referenceBrain]) {
        if (!other) continue;
        expect(functions[id(other.function)]?.Properties.Environment.Variables).not.toHaveProperty(
          'ALARM_TOPIC_ARN',
        );
      }
    });

    it('gives the authorizer and keys-admin their table names, and each only its own', () => {
      const variablesOf = (fn: KeygateFunction) =>
        template().findResources('AWS::Lambda::Function')[id(fn.function)]?.Properties.Environment.Variables;
      expect(variablesOf(stack().authorizer)).toMatchObject({
        API_KEYS_TABLE: { Ref: id(stack().tables.apiKeys) },
      });
      // The authorizer's one call is the verify write on ApiKeys: no other table's name.
      expect(variablesOf(stack().authorizer)).not.toHaveProperty('USERS_TABLE');
      expect(variablesOf(stack().authorizer)).not.toHaveProperty('USER_KEYS_TABLE');
      expect(variablesOf(stack().authorizer)).not.toHaveProperty('IDEMPOTENCY_TABLE');
      expect(variablesOf(stack().keysAdmin)).toMatchObject({
        API_KEYS_TABLE: { Ref: id(stack().tables.apiKeys) },
        USERS_TABLE: { Ref: id(stack().tables.users) },
        USER_KEYS_TABLE: { Ref: id(stack().tables.userKeys) },
      });
      expect(variablesOf(stack().keysAdmin)).not.toHaveProperty('IDEMPOTENCY_TABLE');
      expect(variablesOf(stack().authorizer)).not.toHaveProperty('BUDGETS_TABLE');
      expect(variablesOf(stack().secretScanning)).not.toHaveProperty('BUDGETS_TABLE');
    });

    it('points the requests function at the stage brain and times it out below 29 s', () => {
      const referenceBrain = stack().referenceBrain;
      const brain = referenceBrain ? { Ref: id(referenceBrain.function) } : PLACEHOLDER_BRAIN_ARN;
      const fn = template().findResources('AWS::Lambda::Function')[id(stack().requests.function)];
      expect(fn?.Properties.Environment.Variables).toMatchObject({
        IDEMPOTENCY_TABLE: { Ref: id(stack().tables.idempotency) },
        BRAIN_FUNCTION_NAME: brain,
        BRAIN_TIMEOUT_MS: String(config.brainTimeoutMs),
      });
      expect(fn?.Properties.Timeout).toBeLessThan(29);
      expect(fn?.Properties.Timeout * 1000).toBeGreaterThan(config.brainTimeoutMs);
    });

    it("tells the requests function the brain's own time limit, which decides how long a repeat in doubt waits", () => {
      const functions = template().findResources('AWS::Lambda::Function');
      const maxDuration = Number(
        functions[id(stack().requests.function)]?.Properties.Environment.Variables.BRAIN_MAX_DURATION_MS,
      );
      const referenceBrain = stack().referenceBrain;
      if (referenceBrain) {
        // Exactly the deployed reference brain's timeout.
        expect(maxDuration).toBe(functions[id(referenceBrain.function)]?.Properties.Timeout * 1000);
      } else {
        // A real brain whose timeout the stage does not state: Lambda's maximum, the safe bound.
        expect(maxDuration).toBe(config.brainMaxDurationMs ?? 900_000);
      }
      expect(maxDuration).toBeGreaterThan(config.brainTimeoutMs);
    });
  });

  describe('least privilege', () => {
    const logs = (fn: { logGroup: Parameters<typeof logicalId>[0] }) => [
      `Allow logs:CreateLogStream ${id(fn.logGroup)}.Arn`,
      `Allow logs:PutLogEvents ${id(fn.logGroup)}.Arn`,
    ];
    const xray = ['Allow xray:PutTelemetryRecords *', 'Allow xray:PutTraceSegments *'];
    const table = (name: 'apiKeys' | 'users' | 'userKeys' | 'idempotency' | 'budgets') =>
      `${id(stack().tables[name])}.Arn`;

    it('lets the authorizer only UpdateItem on ApiKeys, BatchGetItem to read a sharded key once, GetItem for count_tokens', () => {
      const fn = stack().authorizer;
      expect(permissionsOf(template(), fn.role)).toEqual(
        [
          ...logs(fn),
          ...xray,
          `Allow dynamodb:BatchGetItem ${table('apiKeys')}`,
          // POST /v1/messages/count_tokens: verified by one consistent read, never counted.
          `Allow dynamodb:GetItem ${table('apiKeys')}`,
          `Allow dynamodb:UpdateItem ${table('apiKeys')}`,
        ].sort(),
      );
    });

    it('lets requests invoke only the brain, write only its idempotency records and update budgets', () => {
      const fn = stack().requests;
      const referenceBrain = stack().referenceBrain;
      const brain = referenceBrain ? `${id(referenceBrain.function)}.Arn` : PLACEHOLDER_BRAIN_ARN;
      expect(permissionsOf(template(), fn.role)).toEqual(
        [
          ...logs(fn),
          ...xray,
          `Allow lambda:InvokeFunction ${brain}`,
          `Allow lambda:InvokeWithResponseStream ${brain}`,
          `Allow dynamodb:PutItem ${table('idempotency')}`,
          `Allow dynamodb:UpdateItem ${table('idempotency')}`,
          `Allow dynamodb:DeleteItem ${table('idempotency')}`,
          // Hold, extension, settlement, release: each one conditional UpdateItem (no reads).
          `Allow dynamodb:UpdateItem ${table('budgets')}`,
        ].sort(),
      );
    });

    it('lets keys-admin make exactly the calls of the key, user and budget repositories', () => {
      const fn = stack().keysAdmin;
      expect(permissionsOf(template(), fn.role)).toEqual(
        [
          ...logs(fn),
          ...xray,
          `Allow dynamodb:BatchGetItem ${table('apiKeys')}`,
          `Allow dynamodb:DeleteItem ${table('apiKeys')}`,
          `Allow dynamodb:GetItem ${table('apiKeys')}`,
          `Allow dynamodb:PutItem ${table('apiKeys')}`,
          `Allow dynamodb:UpdateItem ${table('apiKeys')}`,
          `Allow dynamodb:Query ${table('apiKeys')}/index/${USER_ID_INDEX}`,
          `Allow dynamodb:ConditionCheckItem ${table('users')}`,
          `Allow dynamodb:GetItem ${table('users')}`,
          `Allow dynamodb:PutItem ${table('users')}`,
          `Allow dynamodb:UpdateItem ${table('users')}`,
          `Allow dynamodb:GetItem ${table('userKeys')}`,
          `Allow dynamodb:PutItem ${table('userKeys')}`,
          `Allow dynamodb:Query ${table('userKeys')}`,
          `Allow dynamodb:BatchGetItem ${table('budgets')}`,
          `Allow dynamodb:GetItem ${table('budgets')}`,
          `Allow dynamodb:PutItem ${table('budgets')}`,
          `Allow dynamodb:UpdateItem ${table('budgets')}`,
        ].sort(),
      );
    });

    it('lets secret-scanning only UpdateItem on ApiKeys and publish to the alarm topic', () => {
      const fn = stack().secretScanning;
      expect(permissionsOf(template(), fn.role)).toEqual(
        [
          ...logs(fn),
          ...xray,
          `Allow dynamodb:UpdateItem ${table('apiKeys')}`,
          `Allow sns:Publish ${id(stack().alarms.topic)}`,
        ].sort(),
      );
    });

    it('lets no other function publish to SNS', () => {
      for (const fn of [stack().authorizer, stack().requests, stack().keysAdmin, stack().referenceBrain]) {
        if (!fn) continue;
        expect(permissionsOf(template(), fn.role).filter((line) => line.includes('sns:'))).toEqual([]);
      }
    });

    it('lets the reference brain (dev) write its logs and traces only', () => {
      const fn = stack().referenceBrain;
      if (!fn) return;
      expect(permissionsOf(template(), fn.role)).toEqual([...logs(fn), ...xray].sort());
    });

    it('attaches no managed policy to function roles and grants no wildcard action', () => {
      for (const fn of [stack().authorizer, stack().requests, stack().keysAdmin, stack().secretScanning]) {
        const role = template().findResources('AWS::IAM::Role')[id(fn.role)];
        expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
      }
      for (const policy of Object.values(template().findResources('AWS::IAM::Policy'))) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          for (const action of [statement.Action].flat()) expect(action).not.toContain('*');
          if ([statement.Resource].flat().includes('*')) {
            expect([statement.Action].flat().every((action: string) => action.startsWith('xray:'))).toBe(
              true,
            );
          }
        }
      }
    });
  });

  describe('API', () => {
    it('is one REGIONAL REST API with the enhanced TLS policy and STRICT access mode', () => {
      template().resourceCountIs('AWS::ApiGateway::RestApi', 1);
      template().hasResourceProperties('AWS::ApiGateway::RestApi', {
        Name: `keygate-${stage}`,
        EndpointConfiguration: { Types: ['REGIONAL'] },
        SecurityPolicy: TLS_SECURITY_POLICY,
        EndpointAccessMode: 'STRICT',
        DisableExecuteApiEndpoint: false,
      });
    });

    it('denies any request that does not arrive over TLS', () => {
      template().hasResourceProperties('AWS::ApiGateway::RestApi', {
        Policy: {
          Statement: Match.arrayWith([
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 'execute-api:Invoke',
              Resource: 'execute-api:/*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ]),
        },
      });
    });

    it('uses a REQUEST authorizer without identity sources and without result cache', () => {
      template().resourceCountIs('AWS::ApiGateway::Authorizer', 1);
      const [authorizer] = Object.values(template().findResources('AWS::ApiGateway::Authorizer'));
      expect(authorizer?.Properties).toMatchObject({ Type: 'REQUEST', AuthorizerResultTtlInSeconds: 0 });
      expect(authorizer?.Properties).not.toHaveProperty('IdentitySource');
      expect(render(authorizer?.Properties.AuthorizerUri)).toContain(
        `${id(stack().authorizer.function)}.Arn`,
      );
    });

    const methodsOf = (path: string) => {
      const resources = template().findResources('AWS::ApiGateway::Resource');
      const [resourceId] =
        Object.entries(resources).find(([, resource]) => path.endsWith(`/${resource.Properties.PathPart}`)) ??
        [];
      return Object.values(template().findResources('AWS::ApiGateway::Method')).filter(
        (method) => method.Properties.ResourceId?.Ref === resourceId,
      );
    };

    it('puts the key routes behind the authorizer and sends them to the requests function', () => {
      const methods = Object.values(template().findResources('AWS::ApiGateway::Method'));
      // Its method and ANY (→ 405 after the authorizer, if any) on each of the seven routes.
      expect(methods.map((method) => method.Properties.HttpMethod).sort()).toEqual([
        ...Array<string>(7).fill('ANY'),
        'GET',
        ...Array<string>(6).fill('POST'),
      ]);
      const authorizerId = Object.keys(template().findResources('AWS::ApiGateway::Authorizer'))[0];
      const keyed = KEYED_PATHS.flatMap(methodsOf);
      expect(keyed).toHaveLength(12);
      for (const method of keyed) {
        expect(method.Properties.AuthorizationType).toBe('CUSTOM');
        expect(method.Properties.AuthorizerId).toEqual({ Ref: authorizerId });
        expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
        expect(render(method.Properties.Integration.Uri)).toContain(`${id(stack().requests.function)}.Arn`);
      }
    });

    it('streams the requests function through API Gateway: STREAM integrations on InvokeWithResponseStream (SPEC §7)', () => {
      const streamed = KEYED_PATHS.flatMap(methodsOf);
      expect(streamed).toHaveLength(12);
      for (const method of streamed) {
        expect(method.Properties.Integration.ResponseTransferMode).toBe('STREAM');
        expect(render(method.Properties.Integration.Uri)).toMatch(
          /\/2021-11-15\/functions\/.*\/response-streaming-invocations$/,
        );
      }
      // GitHub's reports stay buffered (their function does not stream).
      for (const method of methodsOf('/api/v1/secret-scanning/github')) {
        expect(method.Properties.Integration.ResponseTransferMode).toBeUndefined();
        expect(render(method.Properties.Integration.Uri)).toMatch(
          /\/2015-03-31\/functions\/.*\/invocations$/,
        );
      }
    });

    it('sends GitHub secret-scanning reports to their function with no authorizer (the signature is checked there)', () => {
      const methods = methodsOf('/api/v1/secret-scanning/github');
      expect(methods.map((method) => method.Properties.HttpMethod).sort()).toEqual(['ANY', 'POST']);
      for (const method of methods) {
        expect(method.Properties.AuthorizationType).toBe('NONE');
        expect(method.Properties).not.toHaveProperty('AuthorizerId');
        expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
        expect(render(method.Properties.Integration.Uri)).toContain(
          `${id(stack().secretScanning.function)}.Arn`,
        );
        // Missing GitHub headers are the function's 401, not API Gateway's 400.
        expect(method.Properties.RequestParameters).toBeUndefined();
      }
      // cdk-nag's no-authorizer findings are acknowledged on exactly these two methods.
      for (const rule of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
        const paths = acknowledgments(stack())
          .filter((ack) => ack.id === rule && /\/(POST|ANY)$/.test(ack.path))
          .map((ack) => ack.path.replace(/^.*\/Default/, ''));
        expect(paths.sort()).toEqual([
          '/api/v1/secret-scanning/github/ANY',
          '/api/v1/secret-scanning/github/POST',
        ]);
      }
      expect(acknowledgments(stack()).filter((ack) => ack.id === 'AwsSolutions-APIG4')).toHaveLength(2);
    });

    it('routes exactly the keyed routes and /api/v1/secret-scanning/github (anything else is MISSING_AUTHENTICATION_TOKEN → 404)', () => {
      const resources = template().findResources('AWS::ApiGateway::Resource');
      const pathOf = (logicalId: string): string => {
        const resource = resources[logicalId];
        const parent = resource?.Properties.ParentId;
        const parentPath = parent?.Ref && resources[parent.Ref] ? pathOf(parent.Ref) : '';
        return `${parentPath}/${resource?.Properties.PathPart}`;
      };
      // The resources with methods: /v1/messages is one and also the parent of count_tokens.
      const methods = Object.values(template().findResources('AWS::ApiGateway::Method'));
      const routed = Object.keys(resources).filter((logicalId) =>
        methods.some((method) => method.Properties.ResourceId?.Ref === logicalId),
      );
      expect(routed.map(pathOf).sort()).toEqual([...KEYED_PATHS, '/api/v1/secret-scanning/github'].sort());
    });

    it.each([
      ['requests', 'RequestBody'],
      ['chat-completions', 'ChatCompletionBody'],
    ] as const)(
      'attaches the %s model generated from the zod schema, and validates parameters only',
      (body, name) => {
        const models = Object.entries(template().findResources('AWS::ApiGateway::Model'));
        expect(models).toHaveLength(6);
        const [modelId, model] = models.find(([, candidate]) => candidate.Properties.Name === name) ?? [];
        expect(model?.Properties.ContentType).toBe('application/json');
        // The zod-generated schema, except the documented flattening of its recursive $refs
        // (the JSON values inside metadata and inside tool schemas): each becomes any value.
        const { definitions: _definitions, ...expected } = requestBodyJsonSchema('draft-4', body);
        const flattened = JSON.parse(JSON.stringify(expected), (_key, value: unknown) =>
          value && typeof value === 'object' && '$ref' in value ? {} : value,
        ) as Record<string, unknown>;
        const properties = asRecord(flattened.properties);
        const metadata = { type: 'object', additionalProperties: {} };
        expect(model?.Properties.Schema).toEqual({
          ...flattened,
          // The chat route takes null as absent (SPEC §3b).
          properties: {
            ...properties,
            metadata: body === 'chat-completions' ? { anyOf: [metadata, { type: 'null' }] } : metadata,
          },
        });
        template().hasResourceProperties('AWS::ApiGateway::Method', {
          HttpMethod: 'POST',
          RequestModels: { 'application/json': { Ref: modelId } },
        });
        template().hasResourceProperties('AWS::ApiGateway::RequestValidator', {
          ValidateRequestBody: false,
          ValidateRequestParameters: true,
        });
      },
    );

    it.each([
      ['anthropic-messages', 'AnthropicMessagesBody', '/v1/messages', ['max_tokens', 'messages', 'model']],
      [
        'anthropic-count-tokens',
        'AnthropicCountTokensBody',
        '/v1/messages/count_tokens',
        ['messages', 'model'],
      ],
      ['responses', 'ResponsesBody', '/v1/responses', ['model']],
    ] as const)(
      'attaches the %s model (%s) generated from the zod schema to the POST of %s',
      (body, name, path, required) => {
        const models = Object.entries(template().findResources('AWS::ApiGateway::Model'));
        const [modelId, model] = models.find(([, candidate]) => candidate.Properties.Name === name) ?? [];
        expect(model?.Properties.ContentType).toBe('application/json');
        const schema = asRecord(model?.Properties.Schema);
        expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
        expect([...(schema.required as string[])].sort()).toEqual(required);
        // Every top-level field of the zod schema is in the model, and nothing else.
        const generated = requestBodyJsonSchema('draft-4', body);
        expect(Object.keys(asRecord(schema.properties)).sort()).toEqual(
          Object.keys(asRecord(generated.properties)).sort(),
        );
        // API Gateway models cannot hold the recursive $refs of JSON values (flattened).
        expect(JSON.stringify(schema)).not.toContain('$ref');
        const [post] = methodsOf(path).filter((method) => method.Properties.HttpMethod === 'POST');
        expect(post?.Properties.RequestModels).toEqual({ 'application/json': { Ref: modelId } });
      },
    );

    it('attaches the GitHub report model generated from the zod schema to its POST', () => {
      const models = Object.entries(template().findResources('AWS::ApiGateway::Model'));
      const [modelId, model] =
        models.find(([, candidate]) => candidate.Properties.Name === 'LeakReportBody') ?? [];
      expect(model?.Properties.ContentType).toBe('application/json');
      expect(model?.Properties.Schema).toEqual(requestBodyJsonSchema('draft-4', 'secret-scanning'));
      expect(model?.Properties.Schema).toMatchObject({
        type: 'array',
        maxItems: 1000,
        items: { type: 'object', required: ['token', 'type', 'url', 'source'] },
      });
      const [post] = methodsOf('/api/v1/secret-scanning/github').filter(
        (method) => method.Properties.HttpMethod === 'POST',
      );
      expect(post?.Properties.RequestModels).toEqual({ 'application/json': { Ref: modelId } });
    });

    it('answers every gateway response in the error envelope with the shared headers', () => {
      template().resourceCountIs('AWS::ApiGateway::GatewayResponse', GATEWAY_RESPONSES.length);
      for (const definition of GATEWAY_RESPONSES) {
        template().hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
          ResponseType: definition.type,
          StatusCode: definition.keepGatewayStatus ? Match.absent() : String(definition.statusCode),
          ResponseParameters: Object.fromEntries(
            Object.entries(gatewayResponseHeaders(definition)).map(([name, value]) => [
              `gatewayresponse.header.${name}`,
              value,
            ]),
          ),
          ResponseTemplates: { 'application/json': gatewayResponseTemplate(definition) },
        });
      }
    });

    it.each([
      ['UNAUTHORIZED', '401', 'unauthorized'],
      ['MISSING_AUTHENTICATION_TOKEN', '404', 'not_found'],
      ['THROTTLED', '429', 'rate_limited'],
      ['REQUEST_TOO_LARGE', '413', 'payload_too_large'],
      ['INTEGRATION_TIMEOUT', '504', 'brain_timeout'],
      ['WAF_FILTERED', '403', 'forbidden'],
      ['DEFAULT_4XX', undefined, 'invalid_request'],
      ['DEFAULT_5XX', undefined, 'internal_error'],
    ])(
      'maps %s to status %s (undefined: API Gateway keeps its own) and %s with HSTS',
      (type, status, code) => {
        const response = Object.values(template().findResources('AWS::ApiGateway::GatewayResponse')).find(
          (candidate) => candidate.Properties.ResponseType === type,
        );
        expect(response?.Properties.StatusCode).toBe(status);
        const body = JSON.parse(response?.Properties.ResponseTemplates['application/json']);
        expect(body).toMatchObject({ success: false, error: { code }, request_id: '$context.requestId' });
        expect(response?.Properties.ResponseParameters).toMatchObject({
          'gatewayresponse.header.Strict-Transport-Security': `'${SECURITY_HEADERS['Strict-Transport-Security']}'`,
          'gatewayresponse.header.Content-Type': "'application/json'",
        });
        if (code === 'unauthorized') {
          expect(response?.Properties.ResponseParameters['gatewayresponse.header.WWW-Authenticate']).toBe(
            "'Bearer'",
          );
        }
      },
    );

    it('answers the stage throttle with Retry-After: 1 (SPEC §8), and no other gateway response with one', () => {
      const responses = Object.values(template().findResources('AWS::ApiGateway::GatewayResponse'));
      for (const response of responses) {
        const retryAfter = response.Properties.ResponseParameters['gatewayresponse.header.Retry-After'];
        expect(retryAfter, response.Properties.ResponseType).toBe(
          response.Properties.ResponseType === 'THROTTLED' ? "'1'" : undefined,
        );
      }
    });

    it("answers ACCESS_DENIED with the body the authorizer wrote for the route's wire format", () => {
      template().hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'ACCESS_DENIED',
        StatusCode: '401',
        ResponseParameters: Match.objectLike({
          'gatewayresponse.header.WWW-Authenticate': "'Bearer'",
          'gatewayresponse.header.Content-Type': "'application/json'",
        }),
        ResponseTemplates: { 'application/json': '$context.authorizer.body' },
      });
    });

    it('throttles, traces and access-logs the stage as JSON, never logging request data', () => {
      const [stageResource] = Object.values(template().findResources('AWS::ApiGateway::Stage'));
      const properties = stageResource?.Properties;
      expect(properties.StageName).toBe(stage);
      expect(properties.TracingEnabled).toBe(true);
      expect(properties.MethodSettings).toEqual([
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: config.throttle.rateLimit,
          ThrottlingBurstLimit: config.throttle.burstLimit,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          MetricsEnabled: false,
        },
      ]);
      const format = JSON.parse(properties.AccessLogSetting.Format);
      expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
      expect(JSON.stringify(format)).not.toMatch(/header|body/i);
    });
  });

  describe('alarms', () => {
    const alarms = () => Object.values(template().findResources('AWS::CloudWatch::Alarm'));

    it('sends every alarm (and its recovery) to the stage topic', () => {
      const topicId = id(stack().alarms.topic);
      // 3 of them on spend budgets, 5 on table throttles; dev's reference brain has one more.
      expect(alarms().length).toBe(stage === 'dev' ? 16 : 15);
      for (const alarm of alarms()) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
      }
    });

    it('watches authorizer errors and fail-closed refusals', () => {
      template().hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(stack().authorizer.function) } }],
        Threshold: config.alarms.functionErrors,
      });
      template().hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'keygate',
        MetricName: 'AuthDecision',
        // Exactly the dimensions the authorizer's EMF line has: its stage included.
        Dimensions: [
          { Name: 'outcome', Value: 'unavailable' },
          { Name: 'service', Value: 'authorizer' },
          { Name: 'stage', Value: stage },
        ],
        Threshold: config.alarms.authorizerUnavailable,
      });
    });

    it('watches secret-scanning errors', () => {
      template().hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(stack().secretScanning.function) } }],
        Threshold: config.alarms.functionErrors,
      });
    });

    it('watches 5xx answers of the API', () => {
      template().hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/ApiGateway',
        MetricName: '5XXError',
        Dimensions: [{ Name: 'ApiName', Value: `keygate-${stage}` }],
        Statistic: 'Sum',
        Threshold: config.alarms.api5xx,
      });
    });

    it('watches brain errors, throttles and timeouts', () => {
      const alarm = alarms().find((candidate) =>
        JSON.stringify(candidate.Properties.Metrics ?? []).includes('BrainOutcome'),
      );
      expect(alarm?.Properties.Threshold).toBe(config.alarms.brainFailures);
      const metrics = (alarm?.Properties.Metrics ?? []) as Array<{
        MetricStat?: { Metric: { Dimensions: Array<{ Name: string; Value: string }> } };
      }>;
      const dimensions = metrics.flatMap((metric) => metric.MetricStat?.Metric.Dimensions ?? []);
      const outcomes = dimensions
        .filter((dimension) => dimension.Name === 'outcome')
        .map((dimension) => dimension.Value);
      expect(outcomes.sort()).toEqual([...BRAIN_FAILURE_OUTCOMES].sort());
      expect(dimensions.filter((dimension) => dimension.Name === 'stage').map((d) => d.Value)).toEqual(
        BRAIN_FAILURE_OUTCOMES.map(() => stage),
      );
    });

    it('watches DynamoDB throttles of every table and of the GSI', () => {
      const throttled = alarms().filter((alarm) =>
        JSON.stringify(alarm.Properties.Metrics ?? []).includes('ThrottleEvents'),
      );
      expect(throttled).toHaveLength(5);
      const text = JSON.stringify(throttled);
      for (const table of ['apiKeys', 'users', 'userKeys', 'idempotency', 'budgets'] as const) {
        expect(text).toContain(id(stack().tables[table]));
      }
      expect(text).toContain(USER_ID_INDEX);
    });
  });

  it('outputs the API URL, the keys-admin function and the table names under the shared keys', () => {
    const outputs = template().toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(stackOutputKeysOf(config).sort());
    expect(outputs[STACK_OUTPUTS.keysAdminFunctionName]?.Value).toEqual({
      Ref: id(stack().keysAdmin.function),
    });
    expect(outputs[STACK_OUTPUTS.apiKeysTableName]?.Value).toEqual({ Ref: id(stack().tables.apiKeys) });
    expect(outputs[STACK_OUTPUTS.usersTableName]?.Value).toEqual({ Ref: id(stack().tables.users) });
    expect(outputs[STACK_OUTPUTS.userKeysTableName]?.Value).toEqual({ Ref: id(stack().tables.userKeys) });
    expect(outputs[STACK_OUTPUTS.idempotencyTableName]?.Value).toEqual({
      Ref: id(stack().tables.idempotency),
    });
    expect(outputs[STACK_OUTPUTS.budgetsTableName]?.Value).toEqual({ Ref: id(stack().tables.budgets) });
    expect(render(outputs[STACK_OUTPUTS.apiUrl]?.Value)).toMatch(/^https:\/\/.*execute-api.*\/$/);
    expect(stack().stackName).toBe(`keygate-${stage}`);
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    expect(nagFindings(stack())).toEqual([]);
  });

  it('writes a reason next to every cdk-nag acknowledgment', () => {
    const acks = acknowledgments(stack());
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-/);
      expect(ack.reason.length).toBeGreaterThan(40);
    }
  });
});
