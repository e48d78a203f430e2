/**
 * Setup file of every test worker: tees everything the worker writes (stdout, stderr and
 * console) into one file per worker, so the global teardown can scan the whole run's logs
 * for plaintext keys (see secret-scan.ts).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

const INSTALLED = Symbol.for('keygate.logCapture');
const state = globalThis as { [INSTALLED]?: boolean };

if (!state[INSTALLED]) {
  state[INSTALLED] = true;
  const dir = inject('testLogDir');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `worker-${process.pid}.log`);
  const record = (chunk: unknown) => {
    try {
      appendFileSync(file, typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : String(chunk));
    } catch {
      // never let log capture break a test
    }
  };
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      record(chunk);
      return original(chunk, ...rest);
    }) as typeof stream.write;
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      record(`${args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')}\n`);
      original(...args);
    };
  }
}
