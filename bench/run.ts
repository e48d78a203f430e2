/**
 * `npm run bench`: every benchmark of SPEC §9 in one run, side by side, on this machine.
 * Writes bench/results/<timestamp>.json and latest.json, prints a Markdown table and
 * replaces the README's table between the bench markers.
 * `npm run bench -- --only secret-scanning` (or `authorizer`, `budgets`, `hot-keys`) runs that one
 * benchmark and prints its section; it writes neither bench/results nor the README (those are
 * whole-run results). A step that fails (throws, its child exits non-zero, or a target it checks
 * is missed) is reported as failed with its error, in the results and the table, and the run goes
 * on to the next steps; the run then exits non-zero.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthorizerBenchResult } from './authorizer.js';
import type { BudgetsBenchResult } from './budgets.js';
import { type ColdStartRow, runColdStart } from './cold-start.js';
import type { HotKeysBenchResult } from './hot-keys.js';
import {
  authorizerSection,
  budgetsSection,
  COMMAND,
  coldStartSection,
  hotKeysSection,
  machine,
  markdown,
  measuredLine,
  requestPathSection,
  secretScanningSection,
  updateReadme,
} from './report.js';
import type { RequestPathResult } from './request-path.js';
import type { SecretScanningBenchResult } from './secret-scanning.js';
import { type StreamingBenchResult, streamingSection } from './streaming.js';

const RESULTS_DIR = 'bench/results';
/** Sections `--only` can run alone. */
const ONLY_SECTIONS = ['secret-scanning', 'authorizer', 'budgets', 'hot-keys', 'streaming'] as const;
type OnlySection = (typeof ONLY_SECTIONS)[number];

function onlyArgument(argv: readonly string[]): OnlySection | undefined {
  const index = argv.findIndex((arg) => arg === '--only' || arg.startsWith('--only='));
  if (index < 0) return undefined;
  const arg = argv[index] ?? '';
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[index + 1];
  if (!ONLY_SECTIONS.includes(value as OnlySection)) {
    throw new Error(`--only takes one of: ${ONLY_SECTIONS.join(', ')} (got ${value ?? 'nothing'})`);
  }
  return value as OnlySection;
}

/** The line a failed child's stderr ends with that says why (Node's `Error: …`), else its last line. */
function reasonOf(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const error = lines.findLast((line) => /^[A-Za-z]*(Error|Exception)\b.*:/.test(line));
  return (error ?? lines.at(-1) ?? '').slice(0, 500);
}

/**
 * Runs a bench entry in a child so the functions' own log lines go to /dev/null, not into the
 * table. Its stderr is passed on, and its end kept for the error of a child that fails.
 */
function runChild(entry: string, outFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, outFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        POWERTOOLS_TRACE_ENABLED: 'false',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const reason = reasonOf(stderr);
      reject(new Error(`${entry} ${how}${reason ? `: ${reason}` : ''}`));
    });
  });
}

const date = new Date().toISOString();
const stamp = date.replace(/[:.]/g, '-');
const only = onlyArgument(process.argv.slice(2));

/** A step's raw result, read from the file its child wrote (left in place for `--only`). */
interface StepRun<T> {
  result: T;
  file?: string;
}

/** Runs `entry` in a child and reads the result it wrote. */
async function childStep<T>(label: string, entry: string, name: string): Promise<StepRun<T>> {
  console.error(`bench: ${label} …`);
  const file = join(tmpdir(), `keygate-bench-${name}-${stamp}.json`);
  await runChild(entry, file);
  return { result: JSON.parse(readFileSync(file, 'utf8')) as T, file };
}

/** A threshold a step checks (budgets, hot keys): a missed one fails the step, its figures kept. */
interface StepCheck {
  name: string;
  target: string;
  value: number;
  ok: boolean;
}

/** One step of the run and how to show it. */
interface Step<T> {
  name: string;
  /** The section's title when the step failed before it had figures. */
  title: string;
  run: () => Promise<StepRun<T>>;
  section: (result: T) => string;
  checks?: (result: T) => readonly StepCheck[];
}

/** What a step ended with: its result (when it had one), and its error when it failed. */
interface StepOutcome<T> {
  name: string;
  result?: T;
  file?: string;
  error?: string;
  section: string;
}

async function runStep<T>(step: Step<T>): Promise<StepOutcome<T>> {
  let ran: StepRun<T>;
  try {
    ran = await step.run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`bench: ✗ ${step.name} failed: ${message}`);
    return { name: step.name, error: message, section: `**${step.title}** — ✗ failed: ${message}` };
  }
  const missed = (step.checks?.(ran.result) ?? []).filter((check) => !check.ok);
  for (const check of missed) {
    console.error(`bench: ✗ ${check.name}: ${check.value} (target ${check.target})`);
  }
  const error =
    missed.length > 0
      ? `targets missed: ${missed.map((check) => `${check.name} = ${check.value} (target ${check.target})`).join('; ')}`
      : undefined;
  return {
    name: step.name,
    result: ran.result,
    ...(ran.file ? { file: ran.file } : {}),
    ...(error ? { error } : {}),
    section: step.section(ran.result),
  };
}

/** What the results file holds for a step: its result, or why it failed before it had one. */
const resultOf = <T>(outcome: StepOutcome<T>): T | { failed: true; error: string } =>
  outcome.result ?? { failed: true, error: outcome.error ?? 'unknown' };

const coldStartStep: Step<ColdStartRow[]> = {
  name: 'cold-start',
  title: 'Cold start',
  run: async () => {
    console.error('bench: cold start …');
    return { result: await runColdStart(Number(process.env.BENCH_COLD_RUNS ?? 40)) };
  },
  section: coldStartSection,
};
const authorizerStep: Step<AuthorizerBenchResult> = {
  name: 'authorizer',
  title: 'Authorizer vs a bare UpdateItem of the same item',
  run: () => childStep('authorizer vs UpdateItem', 'bench/authorizer-main.ts', 'authorizer'),
  section: authorizerSection,
};
const budgetsStep: Step<BudgetsBenchResult> = {
  name: 'budgets',
  title: 'Spend budgets',
  run: () => childStep('spend budgets', 'bench/budgets-main.ts', 'budgets'),
  section: budgetsSection,
  checks: (result) => result.checks,
};
const hotKeysStep: Step<HotKeysBenchResult> = {
  name: 'hot-keys',
  title: 'Hot keys',
  run: () =>
    childStep(
      'hot keys (16 shards vs one item, per-item write ceiling)',
      'bench/hot-keys-main.ts',
      'hot-keys',
    ),
  section: hotKeysSection,
  checks: (result) => result.checks,
};
const requestPathStep: Step<RequestPathResult> = {
  name: 'request-path',
  title: 'Request path',
  run: () => childStep('request path', 'bench/request-path-main.ts', 'request-path'),
  section: requestPathSection,
};
const streamingStep: Step<StreamingBenchResult> = {
  name: 'streaming',
  title: 'Streaming',
  run: () => childStep('streaming (time to first byte)', 'bench/streaming-main.ts', 'streaming'),
  section: streamingSection,
  checks: (result) => result.checks,
};
const secretScanningStep: Step<SecretScanningBenchResult> = {
  name: 'secret-scanning',
  title: 'GitHub secret-scanning report',
  run: () => childStep('GitHub secret-scanning report', 'bench/secret-scanning-main.ts', 'secret-scanning'),
  section: secretScanningSection,
};

/** Every failed step's error on stderr; any makes the run exit non-zero (after all is written). */
function reportFailures(outcomes: readonly StepOutcome<unknown>[]): void {
  const failed = outcomes.filter((outcome) => outcome.error !== undefined);
  if (failed.length === 0) return;
  console.error(
    `bench: ${failed.length} step(s) failed: ${failed.map((outcome) => outcome.name).join(', ')}`,
  );
  process.exitCode = 1;
}

/** `--only`: one benchmark, its section printed, its raw result left in a temporary file. */
async function runOnly(section: OnlySection): Promise<void> {
  const steps: Record<OnlySection, () => Promise<StepOutcome<unknown>>> = {
    'secret-scanning': () => runStep(secretScanningStep),
    authorizer: () => runStep(authorizerStep),
    budgets: () => runStep(budgetsStep),
    'hot-keys': () => runStep(hotKeysStep),
    streaming: () => runStep(streamingStep),
  };
  const outcome = await steps[section]();
  if (outcome.file) {
    console.error(`bench: raw result in ${outcome.file} (bench/results and the README are left as they are)`);
  }
  console.log([measuredLine(date.slice(0, 10), machine()), '', outcome.section].join('\n'));
  reportFailures([outcome]);
}

if (only) {
  await runOnly(only);
} else {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const cold = await runStep(coldStartStep);
  const auth = await runStep(authorizerStep);
  const budget = await runStep(budgetsStep);
  const hot = await runStep(hotKeysStep);
  const path = await runStep(requestPathStep);
  const streaming = await runStep(streamingStep);
  const scanning = await runStep(secretScanningStep);
  const outcomes = [cold, auth, budget, hot, path, streaming, scanning];

  const host = machine();
  const result = {
    date,
    command: COMMAND,
    machine: host,
    authorizer: resultOf(auth),
    budgets: resultOf(budget),
    hot_keys: resultOf(hot),
    request_path: resultOf(path),
    streaming: resultOf(streaming),
    secret_scanning: resultOf(scanning),
    cold_start: resultOf(cold),
    failed_steps: outcomes
      .filter((outcome) => outcome.error !== undefined)
      .map((outcome) => ({ step: outcome.name, error: outcome.error })),
  };
  writeFileSync(join(RESULTS_DIR, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  for (const outcome of outcomes) if (outcome.file) rmSync(outcome.file, { force: true });
  // The README's order: authorizer, request path, streaming, budgets, hot keys, secret scanning, cold start.
  const section = markdown(
    date.slice(0, 10),
    host,
    [auth, path, streaming, budget, hot, scanning, cold].map((outcome) => outcome.section),
  );
  updateReadme(section);
  console.log(section);
  reportFailures(outcomes);
}
