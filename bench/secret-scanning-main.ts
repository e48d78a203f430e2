/**
 * Child-process entry: runs the secret-scanning bench with stdout (the functions' logs) discarded;
 * result to a file. The function's audit lines and leak notices are warnings, which Powertools
 * writes to stderr: they are still written (their cost is part of the answer) but dropped here,
 * so the bench's stderr carries only its own progress and errors.
 */
import { writeFileSync } from 'node:fs';
import { runSecretScanningBench } from './secret-scanning.js';

const write = process.stderr.write.bind(process.stderr);
process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
  String(chunk).startsWith('{"level":') ? true : write(chunk, ...rest)) as typeof process.stderr.write;

const [outFile] = process.argv.slice(2);
const result = await runSecretScanningBench(Number(process.env.BENCH_SECRET_SCANNING_ROUNDS ?? 5));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
