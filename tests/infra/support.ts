/**
 * Shared helpers of the CDK tests: build a stage's stack exactly as infra/app.ts does
 * (cdk-nag plugin included), read IAM permissions out of the template, run cdk-nag.
 * Each test file synthesizes a stage once and shares the Template between its tests.
 */
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildKeygate } from '../../infra/build.js';
import type { KeygateStack } from '../../infra/keygate-stack.js';
import { resolveStage, type StageConfig, type StageName, stageConfigSchema } from '../../infra/stages.js';

/** The placeholder CI synthesizes staging/prod with. */
export const PLACEHOLDER_BRAIN_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:placeholder-brain';

export const CUSTOM_DOMAIN = {
  domainName: 'api.keygate.example.com',
  certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'keygate.example.com',
};

/** A stage's config as the app resolves it (placeholder brain ARN outside dev), with overrides. */
export function stageConfig(stage: StageName, overrides: Record<string, unknown> = {}): StageConfig {
  const resolved = resolveStage(stage, stage === 'dev' ? {} : { brainFunctionArn: PLACEHOLDER_BRAIN_ARN });
  return stageConfigSchema.parse({ ...resolved, ...overrides });
}

export interface Synthesized {
  app: App;
  stack: KeygateStack;
  template: Template;
}

/**
 * Builds and synthesizes one stage. `bundle: false` skips esbuild (CDK's bundling-stacks
 * context) for tests that only read the template; the stack tests bundle for real.
 */
export function synthesize(config: StageConfig, options: { bundle: boolean }): Synthesized {
  const app = new App(options.bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = buildKeygate(app, config);
  return { app, stack, template: Template.fromStack(stack) };
}

export function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement | undefined;
  if (!element) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return element.stack.getLogicalId(element);
}

/** Renders a template value (GetAtt/Ref/Join) as a readable string: `Table.Arn/index/x`. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (Array.isArray(object['Fn::GetAtt'])) return (object['Fn::GetAtt'] as string[]).join('.');
    if (typeof object.Ref === 'string') return object.Ref;
    const join = object['Fn::Join'];
    if (Array.isArray(join)) {
      const [separator, parts] = join as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  return JSON.stringify(value);
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

interface Statement {
  Effect: string;
  Action?: string | string[];
  Resource?: unknown;
}

/** Every `Effect action resource` triple the role's inline policies grant, sorted. */
export function permissionsOf(template: Template, role: IRole): string[] {
  const roleId = logicalId(role);
  const policies = template.findResources('AWS::IAM::Policy');
  const triples: string[] = [];
  for (const policy of Object.values(policies)) {
    const roles = asList(policy.Properties.Roles as unknown[]);
    if (!roles.some((ref) => render(ref) === roleId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
      for (const action of asList(statement.Action)) {
        for (const resource of asList(statement.Resource as unknown)) {
          triples.push(`${statement.Effect} ${action} ${render(resource)}`);
        }
      }
    }
  }
  return triples.sort();
}

/** Every cdk-nag AwsSolutions finding on the stack that is not acknowledged. */
export function nagFindings(stack: IConstruct): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return report.violations.map(
    (violation) =>
      `${violation.severity} ${violation.ruleName} at ${violation.violatingResources
        .map((resource) => resource.constructPath)
        .join(', ')}: ${violation.description}`,
  );
}

/** Every cdk-nag acknowledgment in the tree: construct path, rule id and reason. */
export function acknowledgments(scope: IConstruct): Array<{ path: string; id: string; reason: string }> {
  const found: Array<{ path: string; id: string; reason: string }> = [];
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== 'aws:cdk:acknowledged-rules' || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        found.push({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason: String(reason),
        });
      }
    }
  }
  return found;
}

export interface DashboardWidget {
  type: string;
  properties: Record<string, unknown>;
}

export interface Dashboard {
  widgets: DashboardWidget[];
  variables?: Array<Record<string, unknown>>;
}

/** The stack's one dashboard body, parsed; references render as logical ids (`X`, `X.Arn`, `AWS::Region`). */
export function dashboardOf(template: Template): Dashboard {
  const [resource] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (!resource) throw new Error('the stack has no dashboard');
  return JSON.parse(render(resource.Properties.DashboardBody)) as Dashboard;
}

/** The widgets after the group's header (`## title`) and before the next header. */
export function widgetsOfGroup(dashboard: Dashboard, title: string): DashboardWidget[] {
  const start = dashboard.widgets.findIndex(
    (widget) => widget.type === 'text' && String(widget.properties.markdown).startsWith(`## ${title}\n`),
  );
  if (start < 0) throw new Error(`no dashboard group "${title}"`);
  const rest = dashboard.widgets.slice(start + 1);
  const end = rest.findIndex((widget) => widget.type === 'text');
  return end < 0 ? rest : rest.slice(0, end);
}

export interface GraphedMetric {
  namespace?: string;
  name?: string;
  dimensions: Record<string, string>;
  expression?: string;
  label?: string;
  stat?: string;
  id?: string;
  visible?: boolean;
}

/**
 * A metric widget's lines: `[namespace, name, dim, value, …, {options}]` or `[{expression, …}]`
 * (the dashboard body format), as objects.
 */
export function metricsOf(widget: DashboardWidget): GraphedMetric[] {
  const lines = (widget.properties.metrics ?? []) as unknown[][];
  return lines.map((line) => {
    const last = line[line.length - 1];
    const options = (last && typeof last === 'object' ? last : {}) as Record<string, unknown>;
    const values = line.filter((part): part is string => typeof part === 'string');
    const dimensions: Record<string, string> = {};
    for (let i = 2; i + 1 < values.length; i += 2) dimensions[values[i] as string] = values[i + 1] as string;
    return {
      ...(values.length >= 2 ? { namespace: values[0], name: values[1] } : {}),
      dimensions,
      ...(typeof options.expression === 'string' ? { expression: options.expression } : {}),
      ...(typeof options.label === 'string' ? { label: options.label } : {}),
      ...(typeof options.stat === 'string' ? { stat: options.stat } : {}),
      ...(typeof options.id === 'string' ? { id: options.id } : {}),
      ...(options.visible === false ? { visible: false } : {}),
    };
  });
}
