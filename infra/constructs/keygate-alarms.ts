/**
 * CloudWatch alarms of one stage, all notifying one SNS topic: authorizer errors (Lambda
 * errors and fail-closed refusals), requests 5xx, brain failures, secret-scanning errors,
 * DynamoDB throttles. The custom metrics are the Powertools EMF metrics the functions emit
 * (namespace keygate).
 * The topic comes first (the constructor), the alarms once the API and functions exist
 * (`watch`): the secret-scanning function publishes to the same topic, so it needs the topic's
 * ARN when it is created.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../shared/adapters/observability/metrics.js';
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
  tables: ReadonlyArray<{ id: string; table: dynamodb.ITable; indexNames: readonly string[] }>;
}

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
      this.custom('AuthDecision', { service: 'authorizer', outcome: 'unavailable' }),
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
      new cloudwatch.MathExpression({
        label: 'brain failures',
        expression: BRAIN_FAILURE_OUTCOMES.map((_, i) => `FILL(b${i}, 0)`).join(' + '),
        usingMetrics: Object.fromEntries(
          BRAIN_FAILURE_OUTCOMES.map((outcome, i) => [
            `b${i}`,
            this.custom('BrainOutcome', { service: 'requests', outcome }),
          ]),
        ),
        period: this.period,
      }),
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
    for (const { id: tableId, table, indexNames } of props.tables) {
      this.add(
        `${tableId}Throttles`,
        this.throttles(table, indexNames),
        thresholds.dynamoThrottles,
        `DynamoDB throttle events on ${tableId}`,
      );
    }
  }

  private custom(metricName: string, dimensionsMap: Record<string, string>): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap,
      statistic: cloudwatch.Stats.SUM,
      period: this.period,
    });
  }

  /** Read + write throttle events of the table and of each GSI (a GSI can throttle writes). */
  private throttles(table: dynamodb.ITable, indexNames: readonly string[]): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    const scopes: Array<Record<string, string>> = [
      { TableName: table.tableName },
      ...indexNames.map((indexName) => ({ TableName: table.tableName, GlobalSecondaryIndexName: indexName })),
    ];
    scopes.forEach((dimensionsMap, i) => {
      for (const [kind, metricName] of [
        ['r', 'ReadThrottleEvents'],
        ['w', 'WriteThrottleEvents'],
      ] as const) {
        usingMetrics[`${kind}${i}`] = new cloudwatch.Metric({
          namespace: 'AWS/DynamoDB',
          metricName,
          dimensionsMap,
          statistic: cloudwatch.Stats.SUM,
          period: this.period,
        });
      }
    });
    return new cloudwatch.MathExpression({
      label: 'throttle events',
      expression: Object.keys(usingMetrics)
        .map((name) => `FILL(${name}, 0)`)
        .join(' + '),
      usingMetrics,
      period: this.period,
    });
  }

  private add(id: string, metric: cloudwatch.IMetric, threshold: number, what: string): void {
    const source =
      metric instanceof cloudwatch.Metric
        ? metric.with({ statistic: cloudwatch.Stats.SUM, period: this.period })
        : metric;
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: `keygate: ${what} (>= ${threshold} per ${this.period.toMinutes()} min)`,
      metric: source,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
