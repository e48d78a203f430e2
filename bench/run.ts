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
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { AuthorizerBenchResult } from './authorizer.js';
import type { BudgetsBenchResult } from './budgets.js';
import { type ColdStartRow, runColdStart } from './cold-start.js';
import type { HotKeysBenchResult, KeyCount, LoadPhase } from './hot-keys.js';
import { table } from './lib/markdown.js';
import type { RequestPathResult } from './request-path.js';
import type { SecretScanningBenchResult } from './secret-scanning.js';
import { type StreamingBenchResult, streamingSection } from './streaming.js';

const RESULTS_DIR = 'bench/results';
const README = 'README.md';
const START_MARKER = '<!-- bench:start -->';
const END_MARKER = '<!-- bench:end -->';
const COMMAND = 'npm run bench';
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

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

function markdown(date: string, host: ReturnType<typeof machine>, sections: readonly string[]): string {
  return [measuredLine(date, host), ...sections.flatMap((section) => ['', section])].join('\n');
}

function requestPathSection(path: RequestPathResult): string {
  return [
    "**Request path** — POST /api/v1/requests through the local HTTPS API to the reference brain, its deltas unpaced (`REFERENCE_BRAIN_STREAM_PACE_MS=0`: what is measured is the path, not the brain's simulated generation time):",
    '',
    table(
      ['authorizer', 'concurrency', 'req/s', 'median ms', 'p90 ms', 'p99 ms', 'non-2xx'],
      path.rows.map((row) => [
        row.authorizer ? 'verifies the key' : 'stub (allows all, no database)',
        row.concurrency,
        row.requests_per_second,
        row.median_ms,
        row.p90_ms,
        row.p99_ms,
        row.non_2xx + row.errors,
      ]),
    ),
    '',
    `Key verification's share (verifying authorizer / stub): ${path.auth_share
      .map(
        (share) =>
          `c=${share.concurrency}: median ×${share.median_ratio}, throughput ×${share.throughput_ratio}`,
      )
      .join('; ')}.`,
  ].join('\n');
}

/** Issue 23's hot-key figures (SPEC §9 v3): 16 shards against one item behind a per-item write ceiling. */
function hotKeysSection(hot: HotKeysBenchResult): string {
  const refused = (phase: LoadPhase) => {
    const entries = Object.entries(phase.refused).filter(([, count]) => count > 0);
    return entries.length === 0 ? '0' : entries.map(([reason, count]) => `${count} \`${reason}\``).join(', ');
  };
  const counted = (count: KeyCount | undefined) =>
    count
      ? `${count.usage_count} / ${count.admitted}${count.window_used !== undefined ? ` (window ${count.window_used})` : ''}`
      : '';
  const [unshardedCount, shardedCount, belowCount, overCount] = hot.counts;
  const row = (label: string, phase: LoadPhase, count: KeyCount | undefined) => [
    label,
    phase.offered_per_second,
    phase.admitted_per_second,
    phase.admitted,
    refused(phase),
    phase.shed,
    phase.calls_per_admitted,
    phase.calls.throttled_writes,
    counted(count),
  ];
  const over = hot.over_limit;
  return [
    `**Hot keys** — calls through the authorizer (\`createAuthorizer\`, its verify write on a DynamoDB client configured as the authorizer's; ${hot.containers} warm containers, one call at a time each) on DynamoDB Local behind a proxy that takes ${hot.write_ceiling_per_item} writes/s per item and answers the rest \`ProvisionedThroughputExceededException\`, unapplied (DynamoDB's ~1,000 per item, scaled down). Each key was offered a paced load for ${hot.unsharded.seconds} s; a call that found every container busy was shed (not sent):`,
    '',
    table(
      [
        'key',
        'offered/s',
        'admitted/s',
        'admitted',
        'refused',
        'shed',
        'DynamoDB calls per admitted',
        'of them throttled',
        'usage_count / admitted (warm-up included)',
      ],
      [
        row('unsharded', hot.unsharded, unshardedCount),
        row(`${hot.shards} shards`, hot.sharded, shardedCount),
        row(
          `${hot.shards} shards, rate limit far above, half its shards' ceiling offered`,
          hot.below_limit,
          belowCount,
        ),
        row(`${hot.shards} shards, rate limit ${over.limit} per ${over.window_seconds} s`, over, overCount),
        [`**${hot.shards} shards ÷ unsharded**`, '', `**×${hot.ratio}**`, '', '', '', '', '', ''],
      ],
    ),
    '',
    `${hot.shards} shards carry **×${hot.ratio}** the unsharded key's admitted rate (${hot.sharded.admitted_per_second}/s against ${hot.unsharded.admitted_per_second}/s at a ceiling of ${hot.write_ceiling_per_item}/s per item); DynamoDB calls per admitted request on a sharded key below its limits: **${hot.below_limit.calls_per_admitted}**; against a rate limit of ${over.limit} a sharded key admitted exactly ${overCount?.admitted ?? '?'} (warm-up included). \`unavailable\`: a call failed closed (its item, or every shard with room, throttled); \`rate_limited\`: over the key's limit (answered 429).`,
    '',
    table(
      ['check', 'target', 'value', ''],
      hot.checks.map((check) => [check.name, check.target, check.value, check.ok ? '✓' : '✗']),
    ),
  ].join('\n');
}

function authorizerSection(auth: AuthorizerBenchResult): string {
  return [
    `**Authorizer vs a bare UpdateItem of the same item** (${auth.iterations} interleaved pairs; target ≤ 1.10):`,
    '',
    table(
      ['', 'median ms', 'p90 ms', 'p99 ms'],
      [
        ['authorizer handler', auth.authorizer.median_ms, auth.authorizer.p90_ms, auth.authorizer.p99_ms],
        [
          'bare UpdateItem',
          auth.bare_update_item.median_ms,
          auth.bare_update_item.p90_ms,
          auth.bare_update_item.p99_ms,
        ],
        ['**ratio**', `**${auth.ratio_median}**`, '', `**${auth.ratio_p99}**`],
      ],
    ),
    '',
    `**The same with a rate limit and a quota on the key** (both counted in the one write; target ≤ 1.10):`,
    '',
    table(
      ['', 'median ms', 'p90 ms', 'p99 ms'],
      [
        [
          'authorizer handler',
          auth.limited.authorizer.median_ms,
          auth.limited.authorizer.p90_ms,
          auth.limited.authorizer.p99_ms,
        ],
        [
          'bare UpdateItem (same expression)',
          auth.limited.bare_update_item.median_ms,
          auth.limited.bare_update_item.p90_ms,
          auth.limited.bare_update_item.p99_ms,
        ],
        ['**ratio**', `**${auth.limited.ratio_median}**`, '', `**${auth.limited.ratio_p99}**`],
      ],
    ),
    '',
    `Window rollovers: ${auth.rollover.containers} containers sharing one key with 1 s windows, ${auth.rollover.windows_crossed} windows crossed, ${auth.rollover.requests} calls (${auth.rollover.admitted} admitted): **${auth.rollover.calls_per_admitted} DynamoDB calls per admitted request** (${auth.rollover.dynamodb_calls} calls; the extra ones are the rollovers, at most one per container per key per window).`,
    '',
    `Malformed-key flood: ${auth.malformed.calls} calls, ${auth.malformed.per_call_us} µs per call, **${auth.malformed.dynamodb_calls} DynamoDB calls** (target 0).`,
    '',
    `Revoked-key flood (one refused key, the per-container refusal memory): ${auth.revoked_flood.calls} calls after the first, ${auth.revoked_flood.per_call_us} µs per call, **${auth.revoked_flood.dynamodb_calls_after_first} DynamoDB calls** (target 0).`,
    '',
    `DynamoDB calls per admitted call on the authorizer path (${auth.calls_per_call.calls} calls each; target 1): plain key **${auth.calls_per_call.plain}**, key with a spend budget **${auth.calls_per_call.budgeted}** (its budget is held by the requests function, below).`,
  ].join('\n');
}

/** Issue 22's budget figures (SPEC §9 v3): extra calls, added latency, a spent budget, a rollover. */
function budgetsSection(budgets: BudgetsBenchResult): string {
  const { calls, latency, spent, rollover } = budgets;
  const span = (range: { min: number; max: number }) =>
    range.min === range.max ? String(range.max) : `${range.min}–${range.max}`;
  return [
    `**Spend budgets** — the same POST /api/v1/requests body through the request processor (the requests function's stores, logger and metrics on DynamoDB Local, a fresh Idempotency-Key per call, the reference brain in process), for a caller without a budget and the same caller with one ($${budgets.per_call_hold_usd} held per call); ${budgets.rounds} interleaved rounds:`,
    '',
    table(
      [
        '',
        'DynamoDB calls per call',
        'of them Budgets',
        'of them Idempotency',
        'median ms',
        'p90 ms',
        'p99 ms',
      ],
      [
        [
          'no budget',
          span(calls.plain.total),
          span(calls.plain.budgets),
          span(calls.plain.idempotency),
          latency.plain.median_ms,
          latency.plain.p90_ms,
          latency.plain.p99_ms,
        ],
        [
          'with a budget',
          span(calls.budgeted.total),
          span(calls.budgeted.budgets),
          span(calls.budgeted.idempotency),
          latency.budgeted.median_ms,
          latency.budgeted.p90_ms,
          latency.budgeted.p99_ms,
        ],
        [
          '**added by the budget**',
          `**${span(calls.extra_per_budgeted_call)}**`,
          '',
          '',
          `**${latency.added_median_ms}**`,
          `**${latency.added_p90_ms}**`,
          '',
        ],
        [
          'hold + settle alone (DynamoBudgetStore)',
          2,
          2,
          0,
          latency.budget_writes_alone.median_ms,
          latency.budget_writes_alone.p90_ms,
          latency.budget_writes_alone.p99_ms,
        ],
      ],
    ),
    '',
    `Per round, budgeted − plain: median ${latency.paired_difference.median_ms} ms, p90 ${latency.paired_difference.p90_ms} ms. A spent budget: ${spent.refused} of ${spent.calls} calls refused with 429 \`budget_exceeded\`, **${span(spent.budget_writes_per_call)} budget write per refused call, ${spent.brain_calls} brain calls**. The first call of a new day (a budget of one hold, spent just before midnight): ${rollover.warm.budget_writes} budget writes from a container that wrote it the day before, ${rollover.cold.budget_writes} from a fresh one (its first hold is refused by the period it assumed, then taken in the new one).`,
    '',
    table(
      ['check', 'target', 'value', ''],
      budgets.checks.map((check) => [check.name, check.target, check.value, check.ok ? '✓' : '✗']),
    ),
  ].join('\n');
}

function coldStartSection(cold: ColdStartRow[]): string {
  return [
    `**Cold start** — minified ESM bundle and module-init time of fresh \`node\` processes (${cold[0]?.runs ?? 0} rounds) beside the floor, a handler that only creates a DynamoDB client; \`init × floor\` is the median over the rounds of each init divided by a floor init measured just before it. Targets of SPEC §9 with tracing off, the bundles as deployed (on-demand modules beside them):`,
    '',
    table(
      [
        'function',
        'bundle',
        'on demand',
        'init median ms',
        'init p90 ms',
        'init × floor',
        'target',
        'bytes × floor',
      ],
      cold.map((row) => [
        row.function,
        kb(row.bundle_bytes),
        row.lazy_bytes > 0 ? kb(row.lazy_bytes) : '—',
        row.init_median_ms,
        row.init_p90_ms,
        row.target === null ? row.init_vs_floor : `**${row.init_vs_floor}**`,
        row.target === null ? '—' : `≤ ${row.target} ${row.meets_target ? '✓' : '✗'}`,
        row.bytes_vs_floor,
      ]),
    ),
    '',
    tracerCost(cold),
  ].join('\n');
}

function measuredLine(date: string, host: ReturnType<typeof machine>): string {
  return `Measured ${date} with \`${COMMAND}\` on ${host.cpu}, ${host.cores} cores, ${host.memory_gib} GiB, Node.js ${host.node} (${host.platform}); DynamoDB Local. Milliseconds are this-machine figures; the ratios are what carries over.`;
}

const thousands = (value: number) => value.toLocaleString('en-US');

/** GitHub's largest report (SPEC §3c) against the function's timeout, the bound GitHub's wait needs. */
function secretScanningSection(scan: SecretScanningBenchResult): string {
  const slowest = Math.max(scan.first.max_ms, scan.repeat.max_ms, scan.warm_up_ms);
  const timeout = `${scan.function_timeout_ms / 1000} s`;
  const verdict =
    slowest <= scan.function_timeout_ms / 4
      ? `every answer, the very first included, came well under ${timeout}`
      : slowest < scan.function_timeout_ms
        ? `every answer came under ${timeout}, the slowest at ${Math.round(slowest)} ms`
        : `**the slowest answer, ${Math.round(slowest)} ms, exceeded ${timeout}**`;
  const ratio = (report: number, floor: number) => Math.round((report / floor) * 100) / 100;
  return [
    `**GitHub secret-scanning report of ${thousands(scan.tokens)} tokens (${scan.live_keys} live keys) on DynamoDB Local: first report ${scan.first.median_ms} ms median (max ${scan.first.max_ms}), repeat ${scan.repeat.median_ms} ms** (max ${scan.repeat.max_ms}). POST /api/v1/secret-scanning/github through the local HTTPS API, signed as GitHub signs it, on a fresh TLS connection, until the last byte of the answer; ${scan.rounds} rounds, each with ${scan.live_keys} fresh keys, ${thousands(scan.unknown_keys)} well-formed test keys no table holds and ${scan.garbage} garbage strings, shuffled (${kb(scan.report_bytes)}). The repeat is the same signed report again: the ${scan.live_keys} are already revoked. Every answer labelled exactly the ${scan.live_keys} live keys \`true_positive\` (the bench fails otherwise).`,
    '',
    table(
      [
        'report',
        'median ms',
        'max ms',
        `floor median ms (${scan.floor.writes} conditional writes, ${scan.floor.concurrency} at a time)`,
        'report × floor',
      ],
      [
        [
          'first (revokes the 100)',
          scan.first.median_ms,
          scan.first.max_ms,
          scan.floor.first.median_ms,
          ratio(scan.first.median_ms, scan.floor.first.median_ms),
        ],
        [
          'repeat (already revoked)',
          scan.repeat.median_ms,
          scan.repeat.max_ms,
          scan.floor.repeat.median_ms,
          ratio(scan.repeat.median_ms, scan.floor.repeat.median_ms),
        ],
      ],
    ),
    '',
    `Every well-formed key of this stage costs one conditional write (only the table knows whether it was issued), garbage none; the floor is those writes sent straight to DynamoDB Local from the bench. The stack's very first report (not in the table; DynamoDB Local warmed before it, as DynamoDB needs no warming) took ${scan.warm_up_ms} ms. GitHub asks partners to answer a report of many matches without timing out and publishes no figure; the function's timeout is ${timeout}, and ${verdict}.`,
  ].join('\n');
}

/** What Powertools Tracer (the X-Ray SDK) adds to the authorizer, from its two rows. */
function tracerCost(cold: ColdStartRow[]): string {
  const traced = cold.find((row) => row.function === 'authorizer, tracing on');
  const untraced = cold.find((row) => row.function === 'authorizer');
  if (!traced || !untraced) return '';
  const ms = Math.round((traced.init_median_ms - untraced.init_median_ms) * 10) / 10;
  return `Tracing on adds ${ms} ms to the authorizer's module init: Tracer and the X-Ray SDK ship beside the bundle (the "on demand" column) and load only when tracing is active, as on every deployed stage; every warm request is unaffected (tracing adds no DynamoDB call).`;
}

function updateReadme(section: string): void {
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) {
    console.error(`README has no ${START_MARKER} … ${END_MARKER} section; not updated`);
    return;
  }
  writeFileSync(README, `${readme.slice(0, start + START_MARKER.length)}\n${section}\n${readme.slice(end)}`);
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
