/**
 * Powertools Metrics (EMF, namespace `keygate`): the stack's alarms and dashboard read these.
 * Every metric carries the function (`service`) and the stage (`stage`) as dimensions, so two
 * stages in one account never share a graph or an alarm.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';

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

export function createMetrics(serviceName: string, env: NodeJS.ProcessEnv = process.env): Metrics {
  const stage = env[STAGE_ENV_VAR];
  return new Metrics({
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
