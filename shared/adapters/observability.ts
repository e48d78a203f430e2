/**
 * Powertools Logger and Metrics for every function. The logger's JSON replacer redacts
 * anything that looks like a keygate key, wherever it appears in a log line, as a last
 * line of defence behind "never log the key".
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'keygate';

/** `sk-` followed by a run of base62 long enough to be (part of) a secret. */
const KEY_LIKE = /sk-[0-9A-Za-z]{16,}/g;

export function redactSecrets(text: string): string {
  return text.replace(KEY_LIKE, (match) => `${match.slice(0, 7)}…[redacted]`);
}

export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redactSecrets(value) : value;
}

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, jsonReplacerFn: redactingReplacer });
}

export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}

/** The logging port of the domain: Powertools' Logger satisfies it, tests pass a recorder. */
export interface LogSink {
  /** Optional: recorders in tests may leave it out. */
  debug?(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}
