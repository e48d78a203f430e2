/** Child-process entry: runs the budgets bench with stdout (the processor's log lines) discarded; result to a file. */
import { writeFileSync } from 'node:fs';
import { runBudgetsBench } from './budgets.js';

const [outFile] = process.argv.slice(2);
const result = await runBudgetsBench(Number(process.env.BENCH_BUDGET_ROUNDS ?? 1000));
if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2));
else process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
