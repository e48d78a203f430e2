/**
 * CloudWatch alarms of one stage, all notifying one SNS topic: authorizer errors (Lambda
 * errors and fail-closed refusals), requests 5xx, brain failures, secret-scanning errors,
 * DynamoDB throttles, and the spend-budget incidents (overspend, non-USD payments, settlements
 * not recorded). The metrics come from infra/metrics.ts, which the dashboard reads too.
 * The topic comes first (the constructor), the alarms once the API and functions exist
 * (`watch`): the secret-scanning function publishes to the same topic, so it needs the topic's
 * ARN when it is created.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import {
  BUDGET_METRICS,
  type BudgetMetricName,
  keygateMetric,
  sumOf,
  throttleEvents,
  type WatchedTable,
} from '../metrics.js';
import type { StageConfig } from '../stages.js';

export interface KeygateAlarmsProps {
  config: StageConfig;
}

export interface WatchedResources {
  api: apigw.RestApi;
  functions: {
    authorizer: lambda.IFunction;
    requests: lambda.IFunction;
    keysAdmin: lambda.IFunction;
    secretScanning: lambda.IFunction;
    referenceBrain?: lambda.IFunction;
  };
  tables: readonly WatchedTable[];
}

/**
 * The budget alarms (SPEC §5b, §7): each is an incident on any stage, so the threshold is the
 * first occurrence, not a stage setting. `BudgetOverspend` is USD (any amount above 0 fires);
 * the other two count events.
 */
export const BUDGET_ALARMS = [
  {
    id: 'BudgetOverspend',
    metric: BUDGET_METRICS.overspend,
    comparison: 'above',
    threshold: 0,
    what: 'the brain paid more than the hold it was given (USD beyond the hold); the key is refused until its period resets',
  },
  {
    id: 'BudgetForeignCurrency',
    metric: BUDGET_METRICS.foreignCurrency,
    comparison: 'atLeast',
    threshold: 1,
    what: 'the brain paid in a currency other than USD; recorded, the key is refused until its period resets',
  },
  {
    id: 'BudgetSettlementFailed',
    metric: BUDGET_METRICS.settlementFailed,
    comparison: 'atLeast',
    threshold: 1,
    what: "a budget settlement was not recorded after its retries: the brain's payment is missing from spent (the hold is given back once it expires)",
  },
] as const satisfies ReadonlyArray<{
  id: string;
  metric: BudgetMetricName;
  comparison: 'above' | 'atLeast';
  threshold: number;
  what: string;
}>;

/** Outcomes the requests function records when the brain fails (SPEC §3: 502/503/504). */
export const BRAIN_FAILURE_OUTCOMES = ['brain_error', 'brain_unavailable', 'brain_timeout'] as const;

export class KeygateAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly period: Duration;
  private readonly config: StageConfig;

  /** The stage's topic (and its e-mail subscription); the alarms come with `watch`. */
  constructor(scope: Construct, id: string, props: KeygateAlarmsProps) {
    super(scope, id);
    const { config } = props;
    this.config = config;
    this.period = Duration.minutes(config.alarms.periodMinutes);

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `keygate ${config.stage} alarms`,
      enforceSSL: true,
    });
    if (config.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
  }

  /** The alarms on the API, the functions and the tables, all notifying the topic. */
  watch(props: WatchedResources): void {
    const thresholds = this.config.alarms;
    const fns = props.functions;
    this.add(
      'AuthorizerErrors',
      fns.authorizer.metricErrors(),
      thresholds.functionErrors,
      'authorizer Lambda errors',
    );
    this.add(
      'AuthorizerUnavailable',
      keygateMetric(this.config.stage, 'authorizer', 'AuthDecision', {
        dimensions: { outcome: 'unavailable' },
        period: this.period,
      }),
      thresholds.authorizerUnavailable,
      'authorizer refused requests because the key store was unreachable (fail closed)',
    );
    this.add(
      'Requests5xx',
      props.api.metricServerError(),
      thresholds.api5xx,
      'API answers with a 5xx status',
    );
    this.add(
      'RequestsErrors',
      fns.requests.metricErrors(),
      thresholds.functionErrors,
      'requests Lambda errors',
    );
    this.add(
      'KeysAdminErrors',
      fns.keysAdmin.metricErrors(),
      thresholds.functionErrors,
      'keys-admin Lambda errors',
    );
    this.add(
      'SecretScanningErrors',
      fns.secretScanning.metricErrors(),
      thresholds.functionErrors,
      'secret-scanning Lambda errors',
    );
    this.add(
      'BrainFailures',
      sumOf(
        BRAIN_FAILURE_OUTCOMES.map((outcome) =>
          keygateMetric(this.config.stage, 'requests', 'BrainOutcome', {
            dimensions: { outcome },
            period: this.period,
          }),
        ),
        'brain failures',
        this.period,
      ),
      thresholds.brainFailures,
      'the brain failed, throttled or timed out (502/503/504 answers)',
    );
    if (fns.referenceBrain) {
      this.add(
        'ReferenceBrainErrors',
        fns.referenceBrain.metricErrors(),
        thresholds.functionErrors,
        'reference brain Lambda errors',
      );
    }
    for (const alarm of BUDGET_ALARMS) {
      this.add(
        alarm.id,
        keygateMetric(this.config.stage, 'requests', alarm.metric, { period: this.period }),
        alarm.threshold,
        alarm.what,
        alarm.comparison,
      );
    }
    for (const table of props.tables) {
      this.add(
        `${table.id}Throttles`,
        throttleEvents(table, this.period),
        thresholds.dynamoThrottles,
        `DynamoDB throttle events on ${table.id}`,
      );
    }
  }

  private add(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    what: string,
    comparison: 'above' | 'atLeast' = 'atLeast',
  ): void {
    const source =
      metric instanceof cloudwatch.Metric
        ? metric.with({ statistic: cloudwatch.Stats.SUM, period: this.period })
        : metric;
    const above = comparison === 'above';
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: `keygate: ${what} (${above ? '>' : '>='} ${threshold} per ${this.period.toMinutes()} min)`,
      metric: source,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: above
        ? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        : cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
