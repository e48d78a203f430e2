/**
 * Powertools Metrics (EMF, namespace `keygate`): the stack's alarms and dashboard read these.
 * Every metric carries the function (`service`) and the stage (`stage`) as dimensions, so two
 * stages in one account never share a graph or an alarm.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'keygate';
/** The environment variable that names the stage (`dev`, `staging`, `prod`, `local`). */
export const STAGE_ENV_VAR = 'KEYGATE_STAGE';

/**
 * The dimensions every keygate metric has: what the stack's alarms and dashboard must name
 * (with the metric's own dimensions, such as `outcome`) to find it.
 */
export function baseDimensions(service: string, stage: string): { service: string; stage: string } {
  return { service, stage };
}

/** Powertools Metrics, saying whether it writes at all (POWERTOOLS_METRICS_DISABLED), for createOutcomeCounter. */
export class KeygateMetrics extends Metrics {
  publishes(): boolean {
    return !this.isDisabled();
  }
}

export function createMetrics(serviceName: string, env: NodeJS.ProcessEnv = process.env): KeygateMetrics {
  const stage = env[STAGE_ENV_VAR];
  return new KeygateMetrics({
    namespace: METRICS_NAMESPACE,
    serviceName,
    ...(stage ? { defaultDimensions: { stage } } : {}),
  });
}

export interface MetricValue {
  name: string;
  unit: Parameters<Metrics['addMetric']>[1];
  value: number;
}

/**
 * Several metrics in ONE EMF line, with `dimensions` (beyond service and stage) and, with
 * `alsoOverall`, a second dimension set without them (so percentiles over every value exist).
 * Not `singleMetric()`: it flushes on its first `addMetric`, which would drop the dimensions of
 * every metric after the first.
 */
export function publishMetrics(
  metrics: Pick<Metrics, 'addDimension' | 'addDimensions' | 'addMetric' | 'publishStoredMetrics'>,
  values: readonly MetricValue[],
  dimensions: Record<string, string> = {},
  options: { alsoOverall?: boolean } = {},
): void {
  for (const [name, value] of Object.entries(dimensions)) metrics.addDimension(name, value);
  if (options.alsoOverall) metrics.addDimensions({});
  for (const { name, unit, value } of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/** Counts one event under one dimension value (the authorizer's decision per call). */
export type OutcomeCounter = (outcome: string) => void;

/**
 * `metricName` = 1 with `dimension` = outcome, as Powertools' own EMF line for it: serialized
 * by `metrics` once per outcome, then written with only the Timestamp changed. Publishing
 * through Powertools on every call cost the authorizer ~60 µs of a ~2 ms call (`npm run
 * bench`, CPU profile): more than the rest of its own work. Disabled when `metrics` is
 * (POWERTOOLS_METRICS_DISABLED).
 */
export function createOutcomeCounter(
  metrics: KeygateMetrics,
  metricName: string,
  dimension: string,
): OutcomeCounter {
  /** Each outcome's line, split where its Timestamp goes. */
  const lines = new Map<string, readonly [string, string]>();
  function lineOf(outcome: string): readonly [string, string] {
    metrics.addDimension(dimension, outcome);
    metrics.addMetric(metricName, MetricUnit.Count, 1);
    const emf = metrics.serializeMetrics();
    metrics.clearMetrics();
    metrics.clearDimensions();
    const marker = `"Timestamp":${emf._aws.Timestamp}`;
    const json = JSON.stringify(emf);
    const at = json.indexOf(marker);
    const parts = [json.slice(0, at + '"Timestamp":'.length), `${json.slice(at + marker.length)}\n`] as const;
    lines.set(outcome, parts);
    return parts;
  }
  return (outcome) => {
    if (!metrics.publishes()) return;
    const [head, tail] = lines.get(outcome) ?? lineOf(outcome);
    process.stdout.write(`${head}${Date.now()}${tail}`);
  };
}
