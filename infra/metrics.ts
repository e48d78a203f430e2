/**
 * The CloudWatch metrics of one stage, as the alarms and the dashboard read them: keygate's own
 * (the Powertools EMF metrics the functions emit, found by their `service` and `stage`
 * dimensions, shared/adapters/observability/metrics.ts) and DynamoDB's per table and index.
 * One place, so an alarm and the graph next to it always show the same numbers.
 */
import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { baseDimensions, METRICS_NAMESPACE } from '../shared/adapters/observability/metrics.js';
import type { FunctionName } from './functions.js';

export interface KeygateMetricOptions {
  /** The metric's own dimensions beyond `service` and `stage` (e.g. `outcome`). */
  dimensions?: Record<string, string>;
  statistic?: string;
  period: Duration;
  label?: string;
}

/**
 * The spend-budget metrics of the requests function (SPEC §5b, §7; functions/requests/edge.ts
 * `budgetMetrics`), each one EMF line with the `service` and `stage` dimensions only.
 */
export const BUDGET_METRICS = {
  /** USD settled per call (0 for a call the brain did not pay): summed, the stage's spend. */
  spend: 'BudgetSpend',
  /** A call refused with 429 `budget_exceeded` before the brain (count). */
  refusal: 'BudgetRefusal',
  /** USD the brain paid beyond the call's hold (alarmed: the brain broke its `spend_limit`). */
  overspend: 'BudgetOverspend',
  /** A payment in a currency other than USD (count, alarmed). */
  foreignCurrency: 'BudgetForeignCurrency',
  /** A settlement the budget store never recorded after its retries (count, alarmed). */
  settlementFailed: 'BudgetSettlementFailed',
} as const;

export type BudgetMetricName = (typeof BUDGET_METRICS)[keyof typeof BUDGET_METRICS];

/** One keygate metric of `service` on `stage`. */
export function keygateMetric(
  stage: string,
  service: FunctionName,
  metricName: string,
  options: KeygateMetricOptions,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { ...baseDimensions(service, stage), ...options.dimensions },
    statistic: options.statistic ?? cloudwatch.Stats.SUM,
    period: options.period,
    ...(options.label !== undefined ? { label: options.label } : {}),
  });
}

/**
 * The sum of several metrics, a missing one counting 0 (a math expression). `idPrefix` keeps
 * the metric ids of several sums on one graph apart (ids are per graph).
 */
export function sumOf(
  metrics: readonly cloudwatch.IMetric[],
  label: string,
  period: Duration,
  idPrefix = 'm',
): cloudwatch.MathExpression {
  const usingMetrics = Object.fromEntries(metrics.map((metric, i) => [`${idPrefix}${i}`, metric]));
  return new cloudwatch.MathExpression({
    label,
    expression: Object.keys(usingMetrics)
      .map((name) => `FILL(${name}, 0)`)
      .join(' + '),
    usingMetrics,
    period,
  });
}

/** A table and its global secondary indexes: each has its own capacity and throttle metrics. */
export interface WatchedTable {
  id: string;
  table: dynamodb.ITable;
  indexNames: readonly string[];
}

/** The table's own dimensions, then each index's. */
export function tableScopes(watched: WatchedTable): Array<Record<string, string>> {
  return [
    { TableName: watched.table.tableName },
    ...watched.indexNames.map((indexName) => ({
      TableName: watched.table.tableName,
      GlobalSecondaryIndexName: indexName,
    })),
  ];
}

/** An `AWS/DynamoDB` metric of the table or one of its indexes. */
export function dynamoMetric(
  metricName: string,
  dimensionsMap: Record<string, string>,
  period: Duration,
  statistic: string = cloudwatch.Stats.SUM,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/DynamoDB',
    metricName,
    dimensionsMap,
    statistic,
    period,
  });
}

/** Read + write throttle events of the table and of each GSI (a GSI can throttle writes). */
export function throttleEvents(watched: WatchedTable, period: Duration, label = 'throttle events') {
  return sumOf(
    tableScopes(watched).flatMap((scope) => [
      dynamoMetric('ReadThrottleEvents', scope, period),
      dynamoMetric('WriteThrottleEvents', scope, period),
    ]),
    label,
    period,
    // Expression ids: a lowercase letter first, then letters, digits and underscores.
    `${watched.id.toLowerCase().replace(/[^a-z0-9]/g, '')}_`,
  );
}
