/** Child-process entry: runs the streaming bench with stdout (the functions' logs) discarded; result to a file. */
import { writeFileSync } from 'node:fs';
import { runStreamingBench } from './streaming.js';

const [outFile] = process.argv.slice(2);
const result = await runStreamingBench(Number(process.env.BENCH_STREAM_ROUNDS ?? 40));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
