/**
 * Powertools Logger for every function. Its JSON replacer redacts anything that looks like
 * a keygate key, wherever it appears in a log line, as a last line of defence behind
 * "never log the key".
 */
import { Logger } from '@aws-lambda-powertools/logger';

/** Our prefix followed by a run of base62 long enough to be (part of) a secret. */
const KEY_LIKE = /kg_(?:live|test)_[0-9A-Za-z]{16,}/g;

/** Keeps what a key's `start` shows (`kg_live_AbCd`) and redacts the rest. */
export function redactSecrets(text: string): string {
  return text.replace(KEY_LIKE, (match) => `${match.slice(0, 12)}…[redacted]`);
}

export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redactSecrets(value) : value;
}

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, jsonReplacerFn: redactingReplacer });
}
