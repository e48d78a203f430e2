/**
 * Spend budgets in the stack and the stage config (issue 22, SPEC §5b, §7): the Budgets table,
 * exactly the grants infra/functions.ts describes, the environment the functions read, the
 * three budget alarms, the dashboard's spend group and the saved query of a key's spend. The
 * queries are applied to the lines the real ledger writes on DynamoDB Local, and the metric
 * names to what the requests function's telemetry emits, so neither can drift from the code.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { DEFAULT_MAX_COST_USD } from '../../functions/reference-brain/brain.js';
import { budgetMetrics } from '../../functions/requests/edge.js';
import { BUDGET_ALARMS } from '../../infra/constructs/keygate-alarms.js';
import {
  DASHBOARD_GROUPS,
  LOOKUP_VARIABLE,
  TOP_SPENDING_KEYS,
  TOP_SPENDING_KEYS_QUERY,
} from '../../infra/constructs/keygate-dashboard.js';
import type { KeygateFunction } from '../../infra/constructs/keygate-function.js';
import { FUNCTIONS } from '../../infra/functions.js';
import {
  BUDGET_MESSAGES,
  BUDGET_SETTLED_MESSAGE,
  queryStringOf,
  savedQuery,
  savedQueryName,
} from '../../infra/log-queries.js';
import { BUDGET_METRICS } from '../../infra/metrics.js';
import { STACK_OUTPUTS } from '../../infra/outputs.js';
import { STAGE_NAMES, STAGES, type StageName, stageConfigSchema } from '../../infra/stages.js';
import { keysAdminConfigSpec, loadConfig, requestsConfigSpec } from '../../shared/adapters/config.js';
import { createBudgetLedger } from '../../shared/domain/budgets/ledger.js';
import { micros, parseUsd } from '../../shared/domain/budgets/money.js';
import { budgetItemOf, budgetStoreOn, recordingTelemetry, refOf } from '../support/budgets.js';
import { createTestTables, type TestTables } from '../support/dynamo.js';
import { type LogLine, runSavedQuery } from '../support/log-queries.js';
import { recordingLogger } from '../support/logs.js';
import {
  dashboardOf,
  logicalId as id,
  metricsOf,
  permissionsOf,
  render,
  stageConfig,
  synthesize,
  widgetsOfGroup,
} from './support.js';

describe('the default per-call hold of each stage (BUDGET_DEFAULT_HOLD_USD)', () => {
  it('is 0.50 on every stage: the reference brain’s per-request ceiling on dev and the local stack', () => {
    expect(STAGES.dev.budgetDefaultHoldUsd).toBe(DEFAULT_MAX_COST_USD);
    for (const stage of STAGE_NAMES) expect(STAGES[stage].budgetDefaultHoldUsd).toBe(0.5);
    // Exact micro-dollars, as keys-admin reads it.
    expect(parseUsd(STAGES.dev.budgetDefaultHoldUsd)).toBe(500_000);
  });

  it.each([0, -0.5, 0.0000001, 1_000_000.5, Number.NaN])('refuses a hold of %s', (value) => {
    expect(() => stageConfigSchema.parse({ ...STAGES.prod, budgetDefaultHoldUsd: value })).toThrow(
      z.ZodError,
    );
  });

  it('accepts any USD amount with at most 6 decimals up to the largest budget', () => {
    for (const value of [0.000001, 0.1, 2.5, 1_000_000]) {
      expect(
        stageConfigSchema.parse({ ...STAGES.prod, budgetDefaultHoldUsd: value }).budgetDefaultHoldUsd,
      ).toBe(value);
    }
  });
});

describe('the requests function’s budget metrics', () => {
  it('emits exactly the names the alarms and the dashboard read, with no dimension beyond service and stage', () => {
    const emitted: string[] = [];
    const dimensions: unknown[] = [];
    const metrics = {
      addDimension: (name: string, value: string) => dimensions.push([name, value]),
      addDimensions: (set: Record<string, string>) => dimensions.push(set),
      addMetric: (name: string) => emitted.push(name),
      publishStoredMetrics: () => undefined,
    } as unknown as Pick<Metrics, 'addDimension' | 'addDimensions' | 'addMetric' | 'publishStoredMetrics'>;
    const telemetry = budgetMetrics(metrics);
    telemetry.settled(micros(12_300));
    telemetry.refused();
    telemetry.overspent(micros(1));
    telemetry.foreignCurrency();
    telemetry.settlementFailed();

    expect(emitted).toEqual([
      BUDGET_METRICS.spend,
      BUDGET_METRICS.refusal,
      BUDGET_METRICS.overspend,
      BUDGET_METRICS.foreignCurrency,
      BUDGET_METRICS.settlementFailed,
    ]);
    expect(dimensions).toEqual([]);
  });
});

describe.each(STAGE_NAMES)('stage %s budgets', (stage: StageName) => {
  const config = stageConfig(stage);
  const { stack, template } = synthesize(config, { bundle: false });
  const budgetsArn = `${id(stack.tables.budgets)}.Arn`;
  const functions: Record<string, KeygateFunction> = {
    authorizer: stack.authorizer,
    requests: stack.requests,
    'keys-admin': stack.keysAdmin,
    'secret-scanning': stack.secretScanning,
    ...(stack.referenceBrain ? { 'reference-brain': stack.referenceBrain } : {}),
  };
  const variablesOf = (fn: KeygateFunction): Record<string, unknown> =>
    template.findResources('AWS::Lambda::Function')[id(fn.function)]?.Properties.Environment.Variables;

  it('keeps the Budgets table like the others: on demand, encrypted, PITR and retention per stage', () => {
    const resource = template.findResources('AWS::DynamoDB::Table')[id(stack.tables.budgets)];
    expect(resource?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'budget_id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: config.pointInTimeRecovery },
      DeletionProtectionEnabled: config.retainData,
    });
    expect(resource?.DeletionPolicy).toBe(config.retainData ? 'Retain' : 'Delete');
    expect(resource?.UpdateReplacePolicy).toBe(config.retainData ? 'Retain' : 'Delete');
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs[STACK_OUTPUTS.budgetsTableName]?.Value).toEqual({ Ref: id(stack.tables.budgets) });
  });

  it('grants requests only UpdateItem and keys-admin only its four calls on Budgets; no other function touches it', () => {
    const onBudgets = (fn: KeygateFunction) =>
      permissionsOf(template, fn.role).filter((line) => line.includes(id(stack.tables.budgets)));
    expect(onBudgets(stack.requests)).toEqual([`Allow dynamodb:UpdateItem ${budgetsArn}`]);
    expect(onBudgets(stack.keysAdmin)).toEqual(
      ['BatchGetItem', 'GetItem', 'PutItem', 'UpdateItem'].map(
        (action) => `Allow dynamodb:${action} ${budgetsArn}`,
      ),
    );
    for (const [name, fn] of Object.entries(functions)) {
      const described = FUNCTIONS[name as keyof typeof FUNCTIONS].tables
        .filter((grant) => grant.table === 'Budgets')
        .flatMap((grant) => grant.actions.map((action) => `Allow ${action} ${budgetsArn}`));
      // Exactly the description's grant (infra/functions.ts), nothing added by the stack.
      expect(onBudgets(fn), name).toEqual(described.sort());
      if (name !== 'requests' && name !== 'keys-admin') expect(onBudgets(fn), name).toEqual([]);
    }
  });

  it('tells requests and keys-admin the Budgets table, and keys-admin the stage’s default hold', () => {
    const budgetsTable = { Ref: id(stack.tables.budgets) };
    expect(variablesOf(stack.requests)).toMatchObject({ BUDGETS_TABLE: budgetsTable });
    expect(variablesOf(stack.keysAdmin)).toMatchObject({
      BUDGETS_TABLE: budgetsTable,
      BUDGET_DEFAULT_HOLD_USD: String(config.budgetDefaultHoldUsd),
    });
    // The hold reaches the brain as spend_limit from the key's budget, not from the environment.
    expect(variablesOf(stack.requests)).not.toHaveProperty('BUDGET_DEFAULT_HOLD_USD');
    for (const fn of [stack.authorizer, stack.secretScanning, stack.referenceBrain]) {
      if (!fn) continue;
      expect(variablesOf(fn)).not.toHaveProperty('BUDGETS_TABLE');
      expect(variablesOf(fn)).not.toHaveProperty('BUDGET_DEFAULT_HOLD_USD');
    }
    // What the stack sets is what the functions' configuration accepts.
    const asEnv = (variables: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, render(value)]));
    expect(loadConfig(keysAdminConfigSpec, asEnv(variablesOf(stack.keysAdmin)))).toMatchObject({
      BUDGETS_TABLE: id(stack.tables.budgets),
      BUDGET_DEFAULT_HOLD_USD: config.budgetDefaultHoldUsd,
    });
    expect(loadConfig(requestsConfigSpec, asEnv(variablesOf(stack.requests)))).toMatchObject({
      BUDGETS_TABLE: id(stack.tables.budgets),
    });
  });

  describe('alarms', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const alarmOn = (metricName: string) => {
      const found = alarms.filter((alarm) => alarm.Properties.MetricName === metricName);
      expect(found, metricName).toHaveLength(1);
      return found[0]?.Properties;
    };
    const common = {
      Namespace: 'keygate',
      // Exactly the dimensions of the requests function's EMF line.
      Dimensions: [
        { Name: 'service', Value: 'requests' },
        { Name: 'stage', Value: stage },
      ],
      Statistic: 'Sum',
      Period: config.alarms.periodMinutes * 60,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: id(stack.alarms.topic) }],
      OKActions: [{ Ref: id(stack.alarms.topic) }],
    };

    it('fires on any overspend: USD beyond the hold above 0', () => {
      expect(alarmOn(BUDGET_METRICS.overspend)).toMatchObject({
        ...common,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it.each([BUDGET_METRICS.foreignCurrency, BUDGET_METRICS.settlementFailed])(
      'fires on the first %s',
      (metricName) => {
        expect(alarmOn(metricName)).toMatchObject({
          ...common,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      },
    );

    it('names each budget alarm after its metric, with what it means in its description', () => {
      for (const alarm of BUDGET_ALARMS) {
        const construct = stack.alarms.alarms.find((candidate) => candidate.node.id === alarm.id);
        expect(construct, alarm.id).toBeDefined();
        const properties =
          template.findResources('AWS::CloudWatch::Alarm')[id(construct as never)]?.Properties;
        expect(properties.MetricName).toBe(alarm.metric);
        expect(properties.AlarmDescription).toContain(alarm.what);
      }
    });
  });

  describe('dashboard', () => {
    const dashboard = dashboardOf(template);
    const widgets = widgetsOfGroup(dashboard, DASHBOARD_GROUPS.budgets);
    const titled = (title: string) => {
      const widget = widgets.find((candidate) => candidate.properties.title === title);
      if (!widget)
        throw new Error(`no widget "${title}" in ${widgets.map((w) => w.properties.title).join(', ')}`);
      return widget;
    };
    const requests = { service: 'requests', stage };
    const requestsLogGroup = id(stack.requests.logGroup);

    it('comes right after the brain group', () => {
      const groups = Object.values(DASHBOARD_GROUPS);
      expect(groups.indexOf(DASHBOARD_GROUPS.budgets)).toBe(groups.indexOf(DASHBOARD_GROUPS.brain) + 1);
    });

    it('shows the stage’s spend (sum of BudgetSpend) with budget refusals beside it, on their own axis', () => {
      const widget = titled('Spend (USD) and budget refusals');
      expect(metricsOf(widget)).toEqual([
        expect.objectContaining({ namespace: 'keygate', name: BUDGET_METRICS.spend, dimensions: requests }),
        expect.objectContaining({ namespace: 'keygate', name: BUDGET_METRICS.refusal, dimensions: requests }),
      ]);
      const lines = widget.properties.metrics as unknown[][];
      expect(lines[1]?.at(-1)).toMatchObject({ yAxis: 'right' });
      expect(metricsOf(widget).map((metric) => metric.stat)).toEqual(['Sum', 'Sum']);
      const totals = metricsOf(titled('Spend (USD) and budget refusals (sum over the range)'));
      expect(totals.map((metric) => metric.name)).toEqual([BUDGET_METRICS.spend, BUDGET_METRICS.refusal]);
    });

    it('graphs the three alarmed incidents', () => {
      const incidents = metricsOf(titled('Budget incidents (alarmed)'));
      expect(incidents.map((metric) => [metric.name, metric.dimensions])).toEqual(
        [BUDGET_METRICS.overspend, BUDGET_METRICS.foreignCurrency, BUDGET_METRICS.settlementFailed].map(
          (name) => [name, requests],
        ),
      );
    });

    it('lists the top spending keys from the requests function’s settled lines', () => {
      const widget = titled(`Top ${TOP_SPENDING_KEYS} spending keys (USD)`);
      expect(widget.type).toBe('log');
      const query = String(widget.properties.query);
      expect(query).toContain(`SOURCE '${requestsLogGroup}'`);
      expect(query).toContain(`filter message = "${BUDGET_SETTLED_MESSAGE}"`);
      expect(query).toContain('stats sum(paid) as spent_usd, count(*) as calls by key_id, user_id');
      expect(query).toContain('sort spent_usd desc');
      expect(query).toContain(`limit ${TOP_SPENDING_KEYS}`);
      expect(query.endsWith(TOP_SPENDING_KEYS_QUERY)).toBe(true);
    });

    it('shows the spend of the key, user or budget typed in the lookup box (the saved query)', () => {
      const widget = titled(`Spend matching lookup: ${LOOKUP_VARIABLE.pattern}`);
      const query = String(widget.properties.query);
      expect(query).toContain(`SOURCE '${requestsLogGroup}'`);
      expect(query).toContain(`filter @message like /${LOOKUP_VARIABLE.pattern}/`);
      expect(query).toContain(`"${BUDGET_SETTLED_MESSAGE}"`);
    });
  });

  it('saves the query of a key’s spend on the requests function’s log group', () => {
    const query = savedQuery('key-spend');
    const definition = Object.values(template.findResources('AWS::Logs::QueryDefinition')).find(
      (candidate) => candidate.Properties.Name === savedQueryName(stage, query),
    );
    expect(definition?.Properties.QueryString).toBe(queryStringOf(query));
    expect(((definition?.Properties.LogGroupNames ?? []) as unknown[]).map(render)).toEqual([
      requestsLogGroup(),
    ]);
    expect(definition?.Properties.Parameters).toEqual([
      { Name: 'lookup', Description: query.lookup?.description },
    ]);
    expect(queryStringOf(query)).toContain('sort @timestamp desc');

    function requestsLogGroup() {
      return id(stack.requests.logGroup);
    }
  });
});

describe('the spend queries on the lines the ledger writes (DynamoDB Local)', () => {
  let tables: TestTables;
  let lines: LogLine[] = [];
  const hold = micros(100_000);
  // A key and its rotated successor draw on one budget; another user's key on its own.
  const oldKey = { keyId: 'key_spendold', userId: 'spend-user' };
  const newKey = { keyId: 'key_spendnew', userId: 'spend-user' };
  const otherKey = { keyId: 'key_spendother', userId: 'spend-other' };
  let sharedBudget = '';

  beforeAll(async () => {
    tables = await createTestTables('budget-queries');
    const store = budgetStoreOn(tables);
    const recording = recordingLogger();
    const ledger = createBudgetLedger({
      store,
      logger: recording.logger,
      telemetry: recordingTelemetry().telemetry,
      settleRetryDelaysMs: [1],
    });
    const shared = budgetItemOf({ limit: micros(3 * hold), hold });
    const other = budgetItemOf({ limit: micros(10 * hold), hold });
    const euros = budgetItemOf({ limit: micros(10 * hold), hold });
    sharedBudget = shared.budget_id;
    for (const item of [shared, other, euros]) await store.create(item);
    const until = Date.now() + 60_000;
    const pay = async (
      item: typeof shared,
      owner: typeof oldKey,
      requestId: string,
      amount: number,
      currency = 'USD',
    ) => {
      const held = await ledger.hold(refOf(item), requestId, until, owner);
      if (!held.ok) throw new Error(`hold ${requestId} expected`);
      await ledger.settle(held.hold, { actual_amount: amount, currency });
    };
    await pay(shared, oldKey, 'req-old-1', 0.012_345);
    await pay(shared, newKey, 'req-new-1', 0.05);
    await pay(other, otherKey, 'req-other-1', 0.09);
    await pay(other, otherKey, 'req-other-2', 0.08);
    // A payment above the hold: recorded in full, and the budget refuses the next call.
    await pay(shared, newKey, 'req-new-over', 0.2);
    const refused = await ledger.hold(refOf(shared), 'req-new-refused', until, newKey);
    expect(refused.ok).toBe(false);
    // A payment in euros: recorded (0 USD counted), its budget blocked.
    await pay(euros, otherKey, 'req-other-eur', 0.05, 'EUR');
    // A settlement the store never records.
    const failing = Object.assign(Object.create(store) as typeof store, {
      settle: () => Promise.reject(new Error('DynamoDB is down')),
    });
    const failingLedger = createBudgetLedger({
      store: failing,
      logger: recording.logger,
      telemetry: recordingTelemetry().telemetry,
      settleRetryDelaysMs: [1],
    });
    const held = await failingLedger.hold(refOf(other), 'req-other-lost', until, otherKey);
    if (!held.ok) throw new Error('hold expected');
    await failingLedger.settle(held.hold, { actual_amount: 0.01, currency: 'USD' });

    // As Powertools prints them: the message beside the attributes, one JSON line each.
    lines = recording.records.map(({ level, message, attributes }) => {
      const fields = { level: level.toUpperCase(), message, ...attributes };
      return { raw: JSON.stringify(fields), fields };
    });
  });

  afterAll(async () => {
    await tables.drop();
  });

  const spendOf = (lookup: string) => runSavedQuery(savedQuery('key-spend'), lines, lookup);

  it('finds a key’s settled calls with what each paid and held and the budget after it', () => {
    const found = spendOf(newKey.keyId);
    const settled = found.filter((line) => line.fields.message === BUDGET_SETTLED_MESSAGE);
    expect(settled.map((line) => line.fields.request_id)).toEqual(['req-new-1', 'req-new-over']);
    expect(settled.map((line) => line.fields.paid_usd)).toEqual(['0.050000', '0.200000']);
    for (const line of settled) {
      for (const field of [
        'paid_usd',
        'held_usd',
        'spent_usd',
        'remaining_usd',
        'key_id',
        'user_id',
        'budget_id',
      ]) {
        expect(line.fields, field).toHaveProperty(field);
      }
    }
    // Spend over time: the budget's running total after each call.
    expect(settled.map((line) => line.fields.spent_usd)).toEqual(['0.062345', '0.262345']);
    // And why it is refused now: the overspend, then the refusal.
    expect(found.map((line) => line.fields.message)).toEqual(
      expect.arrayContaining(['brain paid more than the hold', 'budget exceeded']),
    );
    expect(found.every((line) => line.raw.includes(`"${newKey.keyId}"`))).toBe(true);
  });

  it('by budget id: both keys of a rotation, which draw on one budget', () => {
    const keys = new Set(spendOf(sharedBudget).map((line) => line.fields.key_id));
    expect(keys).toEqual(new Set([oldKey.keyId, newKey.keyId]));
  });

  it('shows a settlement that was not recorded, so the spend shown is known to be short', () => {
    const lost = spendOf(otherKey.keyId).filter((line) => line.fields.request_id === 'req-other-lost');
    expect(lost.map((line) => line.fields.message)).toEqual(['budget settlement not recorded']);
    expect(lost[0]?.fields.level).toBe('ERROR');
  });

  it('reads only lines the ledger writes', () => {
    const messages = new Set(lines.map((line) => String(line.fields.message)));
    for (const message of BUDGET_MESSAGES) expect(messages, message).toContain(message);
  });

  it('ranks the top spending keys from paid_micros, an exact integer on every settled line', () => {
    const settled = lines.filter((line) => line.fields.message === BUDGET_SETTLED_MESSAGE);
    expect(settled.every((line) => Number.isSafeInteger(line.fields.paid_micros))).toBe(true);
    // The widget's query, step by step: filter, micro-dollars → USD, sum by key and user, sort.
    const totals = new Map<string, number>();
    for (const line of settled) {
      const group = `${line.fields.key_id} ${line.fields.user_id}`;
      totals.set(group, (totals.get(group) ?? 0) + (line.fields.paid_micros as number));
    }
    const ranked = [...totals.entries()]
      .map(([group, paid]) => [group, paid / 1_000_000] as const)
      .sort((a, b) => b[1] - a[1]);
    expect(ranked).toEqual([
      [`${newKey.keyId} ${newKey.userId}`, 0.25],
      [`${otherKey.keyId} ${otherKey.userId}`, 0.17],
      [`${oldKey.keyId} ${oldKey.userId}`, 0.012_345],
    ]);
  });
});
