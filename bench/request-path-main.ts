/** Child-process entry: runs the request-path bench with stdout (the functions' logs) discarded; result to a file. */
import { writeFileSync } from 'node:fs';

// This step measures what key verification adds to a call, not the reference brain's simulated
// generation time (its paced deltas, 4 × 40 ms): the brain answers at once here.
process.env.REFERENCE_BRAIN_STREAM_PACE_MS = '0';
const { runRequestPathBench } = await import('./request-path.js');

const [outFile] = process.argv.slice(2);
const result = await runRequestPathBench(Number(process.env.BENCH_REQUESTS ?? 1000));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
