/**
 * The stage's CloudWatch dashboard (`keygate-<stage>`): how keys behave at a glance, next to the
 * alarms. Each group starts with a text header naming it (DASHBOARD_GROUPS; the tests assert
 * every group's widgets) and reads only what the functions, API Gateway, DynamoDB, WAF and
 * Lambda already emit (infra/metrics.ts, infra/log-queries.ts):
 *
 * - keys: admitted vs refused calls, refusals by reason, and the refusals of one key, user or
 *   request (the toolbar's `lookup` variable);
 * - answers: API Gateway 4xx/5xx, error answers by code, answers by status from the access log;
 * - brain: latency p50/p90/p99 and outcomes;
 * - budgets: the stage's spend (USD) beside the calls its budgets refused, the alarmed
 *   incidents (overspend, non-USD payments, settlements not recorded), the top spending keys and
 *   the spend of one key, user or budget (the `lookup` variable);
 * - DynamoDB: consumed capacity and throttles per table and index;
 * - WAF: allowed and blocked requests, by rule (or a note where the stage has no web ACL);
 * - leaked keys: GitHub's reports and the revocations they caused;
 * - functions: cold starts (init durations, from the REPORT lines), durations, errors, throttles.
 */
import { Duration, Stack, Tags } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DECISION_OUTCOMES } from '../../shared/domain/brain/contract.js';
import type { LimitRefusalReason } from '../../shared/domain/keys/verify.js';
import { AUTH_MESSAGES, type AuthRefusalReason, ERROR_CODES, statusOf } from '../../shared/errors.js';
import type { FunctionName } from '../functions.js';
import {
  BUDGET_SETTLED_MESSAGE,
  type LogSource,
  queryStringOf,
  quoted,
  type SavedQuery,
  savedQuery,
} from '../log-queries.js';
import {
  BUDGET_METRICS,
  dynamoMetric,
  keygateMetric,
  sumOf,
  tableScopes,
  throttleEvents,
  type WatchedTable,
} from '../metrics.js';
import { STACK_TAG_KEYS } from '../outputs.js';
import type { StageConfig } from '../stages.js';
import { BRAIN_FAILURE_OUTCOMES } from './keygate-alarms.js';
import { logGroupNamesOf, type StageLogGroups } from './keygate-queries.js';
import { WAF_RULES, webAclName } from './keygate-waf.js';

/** The groups of the dashboard, in order: each one's header text starts with its title. */
export const DASHBOARD_GROUPS = {
  alarms: 'Alarms',
  keys: 'Keys: admitted and refused',
  answers: 'Answers: 4xx and 5xx',
  brain: 'Brain: latency and outcomes',
  budgets: 'Budgets: spend and refusals',
  dynamodb: 'DynamoDB: capacity and throttles',
  waf: 'WAF: allowed and blocked',
  leaks: 'Leaked keys',
  functions: 'Functions: cold starts and durations',
} as const;

/** The toolbar variable of the lookup widgets: a regex pattern replaced across the dashboard. */
export const LOOKUP_VARIABLE = { id: 'lookup', pattern: '__lookup__', defaultValue: '.' } as const;

/** The authorizer's refusal outcomes (`AuthDecision` by `outcome`), in the order shown. */
export const REFUSAL_OUTCOMES = [
  ...(Object.keys(AUTH_MESSAGES) as AuthRefusalReason[]),
  'rate_limited',
  'quota_exceeded',
] as const satisfies ReadonlyArray<AuthRefusalReason | LimitRefusalReason>;

/** How many keys the top-spenders table lists. */
export const TOP_SPENDING_KEYS = 10;

/**
 * The top spending keys over the dashboard's range, from the ledger's `budget settled` lines
 * (`paid_micros` is the exact integer; dividing once per line keeps the table in USD).
 */
export const TOP_SPENDING_KEYS_QUERY = [
  `filter message = ${quoted(BUDGET_SETTLED_MESSAGE)}`,
  'fields paid_micros / 1000000 as paid',
  'stats sum(paid) as spent_usd, count(*) as calls by key_id, user_id',
  'sort spent_usd desc',
  `limit ${TOP_SPENDING_KEYS}`,
].join('\n| ');

/** What `BrainOutcome` can say: a decision, or the error the call ended with. */
export const BRAIN_OUTCOMES = [...DECISION_OUTCOMES, ...BRAIN_FAILURE_OUTCOMES, 'internal_error'] as const;

export function dashboardName(stage: StageConfig['stage']): string {
  return `keygate-${stage}`;
}

export interface KeygateDashboardProps {
  config: Pick<StageConfig, 'stage' | 'waf' | 'alarms'>;
  api: apigw.RestApi;
  logGroups: StageLogGroups;
  functions: Partial<Record<FunctionName, lambda.IFunction>>;
  tables: readonly WatchedTable[];
  alarms: readonly cloudwatch.IAlarm[];
}

const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;

export class KeygateDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  /** The console address of the dashboard (a stack output). */
  readonly url: string;
  private readonly props: KeygateDashboardProps;
  private readonly period: Duration;

  constructor(scope: Construct, id: string, props: KeygateDashboardProps) {
    super(scope, id);
    this.props = props;
    const { stage } = props.config;
    this.period = Duration.minutes(props.config.alarms.periodMinutes);
    const name = dashboardName(stage);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: name,
      defaultInterval: Duration.hours(3),
      variables: [
        new cloudwatch.DashboardVariable({
          id: LOOKUP_VARIABLE.id,
          type: cloudwatch.VariableType.PATTERN,
          inputType: cloudwatch.VariableInputType.INPUT,
          label: 'Key id, user id, key start or request id (. = all)',
          value: LOOKUP_VARIABLE.pattern,
          defaultValue: cloudwatch.DefaultValue.value(LOOKUP_VARIABLE.defaultValue),
        }),
      ],
    });
    // The stack tags every resource; CloudFormation's dashboard schema (and cfn-lint's) has no Tags.
    for (const key of STACK_TAG_KEYS) Tags.of(this.dashboard).remove(key);
    const region = Stack.of(this).region;
    this.url = `https://console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${name}`;

    this.group('alarms', 'Every alarm of the stage; each notifies the stage alarm topic.');
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarm states',
        alarms: [...props.alarms],
        width: FULL,
        height: 4,
      }),
    );
    this.keys();
    this.answers();
    this.brain();
    this.budgets();
    this.dynamodb();
    this.waf();
    this.leaks();
    this.functionsGroup();
  }

  private group(key: keyof typeof DASHBOARD_GROUPS, text: string): void {
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `## ${DASHBOARD_GROUPS[key]}\n${text}`,
        width: FULL,
        height: 2,
      }),
    );
  }

  private metric(
    service: FunctionName,
    metricName: string,
    dimensions: Record<string, string> = {},
    label?: string,
  ) {
    return keygateMetric(this.props.config.stage, service, metricName, {
      dimensions,
      period: this.period,
      ...(label !== undefined ? { label } : {}),
    });
  }

  private logSources(sources: readonly LogSource[]): string[] {
    return logGroupNamesOf(sources, this.props.logGroups);
  }

  /** A saved query as a dashboard table, its parameter bound to the toolbar's lookup variable. */
  private savedQueryWidget(query: SavedQuery, title: string, width: number): cloudwatch.LogQueryWidget {
    let text = queryStringOf(query);
    if (query.lookup) {
      // The saved query matches a whole JSON value; the dashboard's variable is a regex (`.` = all).
      text = text.replace(`'"{{${query.lookup.name}}}"'`, `/${LOOKUP_VARIABLE.pattern}/`);
    }
    return new cloudwatch.LogQueryWidget({
      title,
      logGroupNames: this.logSources(query.sources),
      queryString: text,
      view: cloudwatch.LogQueryVisualizationType.TABLE,
      width,
      height: HEIGHT + 2,
    });
  }

  private keys(): void {
    this.group(
      'keys',
      'Admitted = a verified key, counted. Refused = the authorizer said no (401 for the key, 429 for its limits) or the key’s scopes did (403 forbidden). Type a key id, user id, key start or request id in the **lookup** box to see that key’s refusals.',
    );
    const admitted = this.metric('authorizer', 'AuthDecision', { outcome: 'allowed' }, 'admitted');
    const refusals = [
      ...REFUSAL_OUTCOMES.map((outcome) => this.metric('authorizer', 'AuthDecision', { outcome }, outcome)),
      this.metric('requests', 'ScopeRefusal', {}, 'forbidden'),
    ];
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Calls admitted vs refused',
        left: [admitted, sumOf(refusals, 'refused', this.period)],
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Refused calls by reason',
        left: refusals,
        stacked: true,
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Refusals by reason (sum over the range)',
        metrics: refusals,
        setPeriodToTimeRange: true,
        width: THIRD,
        height: HEIGHT,
      }),
    );
    const refusalsQuery = savedQuery('key-refusals');
    this.dashboard.addWidgets(
      this.savedQueryWidget(refusalsQuery, `Refusals matching lookup: ${LOOKUP_VARIABLE.pattern}`, FULL),
    );
  }

  private answers(): void {
    this.group(
      'answers',
      'Every answer API Gateway sent (its own metrics), the error answers of the requests function by code, and every status with the gateway’s error type from the access log (401s from the authorizer, 403s from WAF, 429s from throttling).',
    );
    const { api } = this.props;
    const errorCodes = ERROR_CODES.map((code) =>
      this.metric('requests', 'RequestError', { code }, `${statusOf(code)} ${code}`),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API answers: all, 4xx, 5xx',
        left: [
          api.metricCount({ period: this.period, label: 'all' }),
          api.metricClientError({ period: this.period, label: '4xx' }),
          api.metricServerError({ period: this.period, label: '5xx' }),
        ],
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Error answers of the requests function by code',
        left: errorCodes,
        stacked: true,
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Answers by status and gateway error type (access log)',
        logGroupNames: this.logSources(['access-log']),
        queryString: [
          'fields status, errorType',
          'filter status >= 400',
          'stats count(*) as answers by status, errorType',
          'sort answers desc',
          'limit 50',
        ].join('\n| '),
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: THIRD,
        height: HEIGHT,
      }),
    );
  }

  private brain(): void {
    this.group(
      'brain',
      'How long the brain took per call (every outcome), and what it decided or how the call failed (brain_timeout = 504, brain_unavailable = 503, brain_error = 502).',
    );
    const latency = (statistic: string) =>
      keygateMetric(this.props.config.stage, 'requests', 'BrainLatency', {
        statistic,
        period: this.period,
        label: statistic,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Brain latency (ms)',
        left: [latency('p50'), latency('p90'), latency('p99')],
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Brain outcomes',
        left: BRAIN_OUTCOMES.map((outcome) => this.metric('requests', 'BrainOutcome', { outcome }, outcome)),
        stacked: true,
        width: THIRD,
        height: HEIGHT,
      }),
      this.savedQueryWidget(savedQuery('slowest-brain-calls'), 'Slowest brain calls', THIRD),
    );
  }

  private budgets(): void {
    this.group(
      'budgets',
      'What the brain paid for budgeted keys on this stage (USD, settled per call) beside the calls refused with 429 `budget_exceeded`, and the incidents that alarm: a payment above its hold (USD beyond it), a payment not in USD, a settlement not recorded. Type a key id, user id or budget id in the **lookup** box to see its spend call by call.',
    );
    const budget = (metricName: string, label: string) => this.metric('requests', metricName, {}, label);
    const spent = budget(BUDGET_METRICS.spend, 'spent (USD)');
    const refused = budget(BUDGET_METRICS.refusal, 'refused (budget_exceeded)');
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Spend (USD) and budget refusals',
        left: [spent],
        right: [refused],
        leftYAxis: { label: 'USD', showUnits: false, min: 0 },
        rightYAxis: { label: 'calls', showUnits: false, min: 0 },
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Spend (USD) and budget refusals (sum over the range)',
        metrics: [spent, refused],
        setPeriodToTimeRange: true,
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Budget incidents (alarmed)',
        left: [
          budget(BUDGET_METRICS.overspend, 'overspend (USD beyond the hold)'),
          budget(BUDGET_METRICS.foreignCurrency, 'payments not in USD'),
          budget(BUDGET_METRICS.settlementFailed, 'settlements not recorded'),
        ],
        width: THIRD,
        height: HEIGHT,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: `Top ${TOP_SPENDING_KEYS} spending keys (USD)`,
        logGroupNames: this.logSources(['requests']),
        queryString: TOP_SPENDING_KEYS_QUERY,
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: HALF,
        height: HEIGHT + 2,
      }),
      this.savedQueryWidget(
        savedQuery('key-spend'),
        `Spend matching lookup: ${LOOKUP_VARIABLE.pattern}`,
        HALF,
      ),
    );
  }

  private dynamodb(): void {
    this.group(
      'dynamodb',
      'Capacity each table and index consumed (on-demand: what you pay), and throttle events (any is worth a look: the authorizer refuses when ApiKeys throttles).',
    );
    const capacity = (metricName: string, label: string) =>
      this.props.tables.flatMap((watched) =>
        tableScopes(watched).map((scope) =>
          dynamoMetric(metricName, scope, this.period).with({
            label: `${watched.id}${scope.GlobalSecondaryIndexName ? ` ${scope.GlobalSecondaryIndexName}` : ''} ${label}`,
          }),
        ),
      );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Consumed read capacity units',
        left: capacity('ConsumedReadCapacityUnits', 'RCU'),
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Consumed write capacity units',
        left: capacity('ConsumedWriteCapacityUnits', 'WCU'),
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttle events per table (reads + writes, indexes included)',
        left: this.props.tables.map((watched) => throttleEvents(watched, this.period, watched.id)),
        width: THIRD,
        height: HEIGHT,
      }),
    );
  }

  private waf(): void {
    const { config } = this.props;
    if (!config.waf.enabled) {
      this.group(
        'waf',
        `No web ACL on ${config.stage} (its stage config has \`waf.enabled: false\`); staging and prod have one.`,
      );
      return;
    }
    this.group(
      'waf',
      'Requests the web ACL let through and blocked before the authorizer (a block is a 403 `forbidden` from the WAF_FILTERED gateway response), and which rule blocked them.',
    );
    const region = Stack.of(this).region;
    const webAcl = webAclName(config.stage);
    const waf = (metricName: string, rule: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/WAFV2',
        metricName,
        dimensionsMap: { WebACL: webAcl, Region: region, Rule: rule },
        statistic: cloudwatch.Stats.SUM,
        period: this.period,
        label,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'WAF allowed vs blocked',
        left: [waf('AllowedRequests', 'ALL', 'allowed'), waf('BlockedRequests', 'ALL', 'blocked')],
        width: HALF,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'WAF blocked by rule',
        left: Object.values(WAF_RULES).map((rule) => waf('BlockedRequests', rule.name, rule.name)),
        stacked: true,
        width: HALF,
        height: HEIGHT,
      }),
    );
  }

  private leaks(): void {
    this.group(
      'leaks',
      'Tokens GitHub reported as leaked: keys revoked by a report, reports of keys already revoked, and tokens that are not ours. Each revocation also notifies the alarm topic.',
    );
    const leaked = (metricName: string, label: string) =>
      this.metric('secret-scanning', metricName, {}, label);
    const metrics = [
      leaked('LeakedKeyRevoked', 'revoked'),
      leaked('LeakedKeyTruePositive', 'our keys reported'),
      leaked('LeakedKeyFalsePositive', 'not our keys'),
    ];
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Leaked-key reports',
        left: metrics,
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Leaked keys revoked (sum over the range)',
        metrics: [metrics[0] as cloudwatch.IMetric],
        setPeriodToTimeRange: true,
        width: THIRD,
        height: HEIGHT,
      }),
      this.savedQueryWidget(savedQuery('leaked-key-reports'), 'Recent leaked-key reports', THIRD),
    );
  }

  private functionsGroup(): void {
    this.group(
      'functions',
      'Cold starts and their init time come from each function’s REPORT lines; durations, errors and throttles are Lambda’s own metrics.',
    );
    const entries = Object.entries(this.props.functions) as Array<[FunctionName, lambda.IFunction]>;
    const perFunction = (metricOf: (fn: lambda.IFunction) => cloudwatch.Metric, suffix: string) =>
      entries.map(([name, fn]) => metricOf(fn).with({ label: `${name}${suffix}` }));
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Cold starts per function (init duration, ms)',
        logGroupNames: logGroupNamesOf(
          entries.map(([name]) => name),
          this.props.logGroups,
        ),
        queryString: [
          'filter @type = "REPORT"',
          'stats count(*) as invocations, count(@initDuration) as cold_starts, avg(@initDuration) as avg_init_ms, max(@initDuration) as max_init_ms, pct(@duration, 99) as p99_ms by @log',
        ].join('\n| '),
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: HALF,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Duration p50 / p99 (ms)',
        left: [
          ...perFunction((fn) => fn.metricDuration({ statistic: 'p50', period: this.period }), ' p50'),
          ...perFunction((fn) => fn.metricDuration({ statistic: 'p99', period: this.period }), ' p99'),
        ],
        width: HALF,
        height: HEIGHT,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Invocations',
        left: perFunction((fn) => fn.metricInvocations({ period: this.period }), ''),
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Errors',
        left: perFunction((fn) => fn.metricErrors({ period: this.period }), ''),
        width: THIRD,
        height: HEIGHT,
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttles',
        left: perFunction((fn) => fn.metricThrottles({ period: this.period }), ''),
        width: THIRD,
        height: HEIGHT,
      }),
    );
  }
}
