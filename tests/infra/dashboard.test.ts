/**
 * The stage's dashboard and saved Logs Insights queries (issue 15): one assertion block per
 * widget group, on the synthesized template. Metrics are checked with exactly the dimensions the
 * functions' EMF lines carry (service + stage + the metric's own), so a graph cannot read a
 * metric nobody emits; tests/e2e/operations.test.ts checks the same against real EMF output.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BRAIN_OUTCOMES,
  DASHBOARD_GROUPS,
  dashboardName,
  LOOKUP_VARIABLE,
  REFUSAL_OUTCOMES,
} from '../../infra/constructs/keygate-dashboard.js';
import { WAF_RULES, webAclName } from '../../infra/constructs/keygate-waf.js';
import { queryStringOf, SAVED_QUERIES, savedQueryName } from '../../infra/log-queries.js';
import { STACK_OUTPUTS } from '../../infra/outputs.js';
import type { StageName } from '../../infra/stages.js';
import { USER_ID_INDEX } from '../../shared/adapters/dynamodb/tables.js';
import { ERROR_CODES } from '../../shared/errors.js';
import {
  type DashboardWidget,
  dashboardOf,
  logicalId as id,
  metricsOf,
  render,
  stageConfig,
  synthesize,
  widgetsOfGroup,
} from './support.js';

/** The refusal reasons the issue names; each must be a line of "Refused calls by reason". */
const ISSUE_REASONS = [
  'unknown',
  'revoked',
  'expired',
  'suspended',
  'rate_limited',
  'quota_exceeded',
  'forbidden',
];

describe.each(['dev', 'staging', 'prod'] as const)('stage %s dashboard', (stage: StageName) => {
  const config = stageConfig(stage);
  const { stack, template } = synthesize(config, { bundle: false });
  const dashboard = dashboardOf(template);
  const group = (key: keyof typeof DASHBOARD_GROUPS) => widgetsOfGroup(dashboard, DASHBOARD_GROUPS[key]);
  const titled = (widgets: DashboardWidget[], title: string) => {
    const widget = widgets.find((candidate) => candidate.properties.title === title);
    if (!widget)
      throw new Error(`no widget "${title}" in ${widgets.map((w) => w.properties.title).join(', ')}`);
    return widget;
  };
  const keygate = (service: string, dimensions: Record<string, string> = {}) => ({
    service,
    stage,
    ...dimensions,
  });
  const functions = {
    authorizer: stack.authorizer,
    requests: stack.requests,
    'keys-admin': stack.keysAdmin,
    'secret-scanning': stack.secretScanning,
    ...(stack.referenceBrain ? { 'reference-brain': stack.referenceBrain } : {}),
  };
  const logGroupIds = (names: readonly (keyof typeof functions)[]) =>
    names.map((name) => id(functions[name]?.logGroup as never));

  it('is one dashboard named for the stage, whose console URL is a stack output', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [resource] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(resource?.Properties.DashboardName).toBe(dashboardName(stage));
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const url = render(outputs[STACK_OUTPUTS.dashboardUrl]?.Value);
    expect(url).toMatch(/^https:\/\/console\.aws\.amazon\.com\/cloudwatch\/home\?region=/);
    expect(url).toContain(`#dashboards/dashboard/${dashboardName(stage)}`);
  });

  it('has every group, in order, each with a header', () => {
    const headers = dashboard.widgets
      .filter((widget) => widget.type === 'text')
      .map((widget) => String(widget.properties.markdown).split('\n')[0]);
    expect(headers).toEqual(Object.values(DASHBOARD_GROUPS).map((title) => `## ${title}`));
  });

  it('alarms: shows the state of every alarm of the stage', () => {
    const [widget] = group('alarms');
    expect(widget?.type).toBe('alarm');
    const alarmIds = stack.alarms.alarms.map((alarm) => `${id(alarm)}.Arn`);
    expect(widget?.properties.alarms).toEqual(alarmIds);
    expect(alarmIds.length).toBeGreaterThanOrEqual(10);
  });

  it('keys: admitted vs refused, every refusal reason, and a lookup of one key', () => {
    const widgets = group('keys');
    const admittedVsRefused = metricsOf(titled(widgets, 'Calls admitted vs refused'));
    expect(admittedVsRefused).toContainEqual(
      expect.objectContaining({
        namespace: 'keygate',
        name: 'AuthDecision',
        dimensions: keygate('authorizer', { outcome: 'allowed' }),
        label: 'admitted',
      }),
    );
    expect(admittedVsRefused.some((metric) => metric.expression && metric.label === 'refused')).toBe(true);

    const byReason = metricsOf(titled(widgets, 'Refused calls by reason'));
    expect(byReason.map((metric) => metric.label).sort()).toEqual([...REFUSAL_OUTCOMES, 'forbidden'].sort());
    for (const reason of ISSUE_REASONS) expect(byReason.map((metric) => metric.label)).toContain(reason);
    for (const outcome of REFUSAL_OUTCOMES) {
      expect(byReason).toContainEqual(
        expect.objectContaining({ name: 'AuthDecision', dimensions: keygate('authorizer', { outcome }) }),
      );
    }
    expect(byReason).toContainEqual(
      expect.objectContaining({ name: 'ScopeRefusal', dimensions: keygate('requests'), label: 'forbidden' }),
    );

    const lookup = widgets.find((widget) => widget.type === 'log');
    expect(lookup?.properties.title).toContain(LOOKUP_VARIABLE.pattern);
    expect(String(lookup?.properties.query)).toContain(`filter @message like /${LOOKUP_VARIABLE.pattern}/`);
    expect(String(lookup?.properties.query)).toContain('"request refused"');
    for (const groupId of logGroupIds(['authorizer', 'requests'])) {
      expect(String(lookup?.properties.query)).toContain(`SOURCE '${groupId}'`);
    }
    expect(dashboard.variables).toEqual([
      expect.objectContaining({
        type: 'pattern',
        inputType: 'input',
        id: LOOKUP_VARIABLE.id,
        pattern: LOOKUP_VARIABLE.pattern,
        defaultValue: LOOKUP_VARIABLE.defaultValue,
      }),
    ]);
  });

  it('answers: API Gateway 4xx/5xx, error answers by every code, statuses from the access log', () => {
    const widgets = group('answers');
    const api = metricsOf(titled(widgets, 'API answers: all, 4xx, 5xx'));
    expect(api.map((metric) => [metric.namespace, metric.name, metric.dimensions])).toEqual(
      ['Count', '4XXError', '5XXError'].map((name) => [
        'AWS/ApiGateway',
        name,
        { ApiName: `keygate-${stage}` },
      ]),
    );
    const codes = metricsOf(titled(widgets, 'Error answers of the requests function by code'));
    expect(codes.map((metric) => metric.dimensions)).toEqual(
      ERROR_CODES.map((code) => keygate('requests', { code })),
    );
    expect(codes.every((metric) => metric.name === 'RequestError')).toBe(true);
    // A spent budget's 429 is an answer of the requests function like any other error.
    expect(codes).toContainEqual(
      expect.objectContaining({ dimensions: keygate('requests', { code: 'budget_exceeded' }) }),
    );
    const accessLog = titled(widgets, 'Answers by status and gateway error type (access log)');
    expect(String(accessLog.properties.query)).toContain(`SOURCE '${id(stack.api.accessLogGroup)}'`);
    expect(String(accessLog.properties.query)).toContain('stats count(*) as answers by status, errorType');
  });

  it('brain: latency p50/p90/p99 over every outcome, and every outcome counted', () => {
    const widgets = group('brain');
    const latency = metricsOf(titled(widgets, 'Brain latency (ms)'));
    expect(latency.map((metric) => metric.stat)).toEqual(['p50', 'p90', 'p99']);
    // Without `outcome`: the second dimension set of the requests function's EMF line.
    for (const metric of latency) {
      expect(metric).toMatchObject({ name: 'BrainLatency', dimensions: keygate('requests') });
    }
    const outcomes = metricsOf(titled(widgets, 'Brain outcomes'));
    expect(outcomes.map((metric) => metric.dimensions)).toEqual(
      BRAIN_OUTCOMES.map((outcome) => keygate('requests', { outcome })),
    );
    const slowest = titled(widgets, 'Slowest brain calls');
    expect(String(slowest.properties.query)).toContain('sort brain_ms desc');
  });

  it('DynamoDB: consumed capacity of every table and index, throttles per table', () => {
    const widgets = group('dynamodb');
    const tableIds = [
      stack.tables.apiKeys,
      stack.tables.users,
      stack.tables.userKeys,
      stack.tables.idempotency,
      stack.tables.budgets,
    ].map((table) => id(table));
    for (const [title, metricName] of [
      ['Consumed read capacity units', 'ConsumedReadCapacityUnits'],
      ['Consumed write capacity units', 'ConsumedWriteCapacityUnits'],
    ] as const) {
      const metrics = metricsOf(titled(widgets, title));
      expect(
        metrics.every((metric) => metric.namespace === 'AWS/DynamoDB' && metric.name === metricName),
      ).toBe(true);
      expect(metrics.map((metric) => metric.dimensions)).toEqual([
        { TableName: tableIds[0] },
        { TableName: tableIds[0], GlobalSecondaryIndexName: USER_ID_INDEX },
        { TableName: tableIds[1] },
        { TableName: tableIds[2] },
        { TableName: tableIds[3] },
        { TableName: tableIds[4] },
      ]);
    }
    const throttles = metricsOf(
      titled(widgets, 'Throttle events per table (reads + writes, indexes included)'),
    );
    expect(throttles.filter((metric) => metric.expression).map((metric) => metric.label)).toEqual([
      'ApiKeys',
      'Users',
      'UserKeys',
      'Idempotency',
      'Budgets',
    ]);
    const hidden = throttles.filter((metric) => !metric.expression);
    expect(new Set(hidden.map((metric) => metric.name))).toEqual(
      new Set(['ReadThrottleEvents', 'WriteThrottleEvents']),
    );
    // Every table and the index, reads and writes: 2 × (5 tables + 1 index).
    expect(hidden).toHaveLength(12);
  });

  it('WAF: allowed and blocked, by rule, where the stage has a web ACL', () => {
    const widgets = group('waf');
    if (!config.waf.enabled) {
      expect(widgets).toHaveLength(0);
      const header = dashboard.widgets.find((widget) =>
        String(widget.properties.markdown ?? '').startsWith(`## ${DASHBOARD_GROUPS.waf}`),
      );
      expect(header?.properties.markdown).toContain('No web ACL');
      return;
    }
    const allowedBlocked = metricsOf(titled(widgets, 'WAF allowed vs blocked'));
    expect(allowedBlocked).toEqual([
      expect.objectContaining({
        namespace: 'AWS/WAFV2',
        name: 'AllowedRequests',
        dimensions: { WebACL: webAclName(stage), Region: 'AWS::Region', Rule: 'ALL' },
      }),
      expect.objectContaining({
        name: 'BlockedRequests',
        dimensions: { WebACL: webAclName(stage), Region: 'AWS::Region', Rule: 'ALL' },
      }),
    ]);
    const byRule = metricsOf(titled(widgets, 'WAF blocked by rule'));
    expect(byRule.map((metric) => metric.dimensions.Rule)).toEqual(
      Object.values(WAF_RULES).map((rule) => rule.name),
    );
  });

  it('leaked keys: revocations and reports of the secret-scanning function', () => {
    const widgets = group('leaks');
    const reports = metricsOf(titled(widgets, 'Leaked-key reports'));
    expect(reports.map((metric) => [metric.name, metric.dimensions])).toEqual(
      ['LeakedKeyRevoked', 'LeakedKeyTruePositive', 'LeakedKeyFalsePositive'].map((name) => [
        name,
        keygate('secret-scanning'),
      ]),
    );
    const recent = titled(widgets, 'Recent leaked-key reports');
    expect(String(recent.properties.query)).toContain(`SOURCE '${logGroupIds(['secret-scanning'])[0]}'`);
  });

  it('functions: cold starts from every function’s REPORT lines, durations, errors, throttles', () => {
    const widgets = group('functions');
    const coldStarts = titled(widgets, 'Cold starts per function (init duration, ms)');
    const query = String(coldStarts.properties.query);
    expect(query).toContain('filter @type = "REPORT"');
    expect(query).toContain('count(@initDuration) as cold_starts');
    for (const groupId of logGroupIds(Object.keys(functions) as (keyof typeof functions)[])) {
      expect(query).toContain(`SOURCE '${groupId}'`);
    }
    const functionIds = Object.values(functions).map((fn) => id(fn.function));
    const durations = metricsOf(titled(widgets, 'Duration p50 / p99 (ms)'));
    expect(durations.map((metric) => `${metric.dimensions.FunctionName} ${metric.stat}`).sort()).toEqual(
      functionIds.flatMap((fnId) => [`${fnId} p50`, `${fnId} p99`]).sort(),
    );
    for (const [title, name] of [
      ['Invocations', 'Invocations'],
      ['Errors', 'Errors'],
      ['Throttles', 'Throttles'],
    ] as const) {
      const metrics = metricsOf(titled(widgets, title));
      expect(
        metrics.map((metric) => [metric.namespace, metric.name, metric.dimensions.FunctionName]),
      ).toEqual(functionIds.map((fnId) => ['AWS/Lambda', name, fnId]));
    }
  });

  it('saves a Logs Insights query per ops question, on exactly the log groups it reads', () => {
    const definitions = Object.values(template.findResources('AWS::Logs::QueryDefinition'));
    expect(definitions).toHaveLength(SAVED_QUERIES.length);
    for (const query of SAVED_QUERIES) {
      const definition = definitions.find(
        (candidate) => candidate.Properties.Name === savedQueryName(stage, query),
      );
      expect(definition, query.id).toBeDefined();
      expect(definition?.Properties.QueryString).toBe(queryStringOf(query));
      expect(definition?.Properties.QueryLanguage).toBe('CWLI');
      expect(((definition?.Properties.LogGroupNames ?? []) as unknown[]).map(render)).toEqual(
        logGroupIds(query.sources as readonly (keyof typeof functions)[]),
      );
      if ('lookup' in query) {
        expect(definition?.Properties.QueryString).toContain(`'"{{${query.lookup.name}}}"'`);
        expect(definition?.Properties.Parameters).toEqual([
          { Name: query.lookup.name, Description: query.lookup.description },
        ]);
      } else {
        expect(definition?.Properties.Parameters).toBeUndefined();
      }
    }
    expect(SAVED_QUERIES.map((query) => query.id)).toEqual(
      expect.arrayContaining([
        'key-audit',
        'key-refusals',
        'slowest-brain-calls',
        'leaked-key-reports',
        'key-spend',
      ]),
    );
  });
});

describe('docs/operations.md, the runbook', () => {
  const runbook = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const { stack, template } = synthesize(stageConfig('prod'), { bundle: false });
  const dashboard = dashboardOf(template);

  it('names every dashboard group and widget, so an operator can find what it points to', () => {
    for (const title of Object.values(DASHBOARD_GROUPS)) expect(runbook).toContain(title);
    for (const widget of dashboard.widgets) {
      const title = widget.properties.title;
      if (typeof title !== 'string') continue;
      expect(runbook, title).toContain(title.replace(`: ${LOOKUP_VARIABLE.pattern}`, ''));
    }
  });

  it('names every saved query and every alarm, and says what each refusal reason means', () => {
    for (const query of SAVED_QUERIES) expect(runbook).toContain(`\`${query.id}\``);
    for (const alarm of stack.alarms.alarms) expect(runbook, alarm.node.id).toContain(alarm.node.id);
    for (const reason of [...REFUSAL_OUTCOMES, 'forbidden'])
      expect(runbook, reason).toContain(`| \`${reason}\` |`);
  });
});
