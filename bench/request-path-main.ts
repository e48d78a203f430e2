/** Child-process entry: runs the request-path bench with stdout (the functions' logs) discarded; result to a file. */
import { writeFileSync } from 'node:fs';
import { runRequestPathBench } from './request-path.js';

const [outFile] = process.argv.slice(2);
const result = await runRequestPathBench(Number(process.env.BENCH_REQUESTS ?? 1000));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
