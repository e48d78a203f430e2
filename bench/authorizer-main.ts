/** Child-process entry: runs the authorizer bench with stdout (the functions' logs) discarded; result to a file. */
import { writeFileSync } from 'node:fs';
import { runAuthorizerBench } from './authorizer.js';

const [outFile] = process.argv.slice(2);
const result = await runAuthorizerBench(Number(process.env.BENCH_AUTH_ITERATIONS ?? 2000));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
