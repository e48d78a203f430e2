import type { LogSink } from '../../shared/domain/ports.js';
/** Log capture for tests: a recording LogSink for the domain, and stdout capture for the real Powertools logger. */

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>;
}

export interface RecordingLogger {
  logger: LogSink;
  records: LogRecord[];
  /** Every record as one JSON line, to search for leaked secrets. */
  text(): string;
}

export function recordingLogger(): RecordingLogger {
  const records: LogRecord[] = [];
  const push = (level: LogRecord['level']) => (message: string, attributes: Record<string, unknown>) => {
    records.push({ level, message, attributes });
  };
  // Built as a variable (not a literal) so it fits LogSink with or without optional levels.
  const logger = { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
  return {
    logger,
    records,
    text: () => records.map((record) => JSON.stringify(record)).join('\n'),
  };
}

const noop = () => {};
const silent = { debug: noop, info: noop, warn: noop, error: noop };
export const silentLogger: LogSink = silent;

export interface OutputCapture {
  /** Everything written to process.stdout and process.stderr since the capture started. */
  output(): string;
  /** The JSON lines written so far, parsed (non-JSON lines are skipped). */
  jsonLines(): Record<string, unknown>[];
  restore(): void;
}

/**
 * Captures process.stdout.write and process.stderr.write until `restore()`: Powertools'
 * Logger writes info/debug to stdout and warn/error to stderr (both end up in CloudWatch).
 */
export function captureOutput(): OutputCapture {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  const output = () => chunks.join('');
  return {
    output,
    jsonLines: () =>
      output()
        .split('\n')
        .flatMap((line) => {
          if (!line.trim().startsWith('{')) return [];
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    restore: () => {
      streams.forEach((stream, index) => {
        const original = originals[index];
        if (original) stream.write = original;
      });
    },
  };
}
