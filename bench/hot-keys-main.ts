/** Child-process entry: runs the hot-keys bench with stdout (the authorizer's log lines) discarded; result to a file. */
import { writeFileSync } from 'node:fs';
import { runHotKeysBench } from './hot-keys.js';

const [outFile] = process.argv.slice(2);
const numberFrom = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const ceiling = numberFrom('BENCH_HOT_KEY_CEILING');
const seconds = numberFrom('BENCH_HOT_KEY_SECONDS');
const containers = numberFrom('BENCH_HOT_KEY_CONTAINERS');
const result = await runHotKeysBench({
  ...(ceiling !== undefined ? { ceiling } : {}),
  ...(seconds !== undefined ? { seconds } : {}),
  ...(containers !== undefined ? { containers } : {}),
});
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
