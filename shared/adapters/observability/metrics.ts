/** Powertools Metrics (EMF, namespace `keygate`): the stack's alarms and dashboards read these. */
import { Metrics } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'keygate';

export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}
