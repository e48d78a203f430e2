/**
 * CloudWatch alarms of one stage, all notifying one SNS topic: authorizer errors (Lambda
 * errors and fail-closed refusals), requests 5xx, brain failures, secret-scanning errors,
 * DynamoDB throttles. The metrics come from infra/metrics.ts, which the dashboard reads too.
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
import { keygateMetric, sumOf, throttleEvents, type WatchedTable } from '../metrics.js';
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
    for (const table of props.tables) {
      this.add(
        `${table.id}Throttles`,
        throttleEvents(table, this.period),
        thresholds.dynamoThrottles,
        `DynamoDB throttle events on ${table.id}`,
      );
    }
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
