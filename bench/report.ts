/**
 * The bench's report: the Markdown sections of each benchmark (targets, tables, the lines the
 * README shows) and the README's replacement between the bench markers. bench/run.ts runs the
 * steps; this file only writes what they measured.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { AuthorizerBenchResult } from './authorizer.js';
import type { BudgetsBenchResult } from './budgets.js';
import type { ColdStartRow } from './cold-start.js';
import type { HotKeysBenchResult, KeyCount, LoadPhase } from './hot-keys.js';
import { table } from './lib/markdown.js';
import type { RequestPathResult } from './request-path.js';
import type { SecretScanningBenchResult } from './secret-scanning.js';

/** The command the README names as the source of its figures. */
export const COMMAND = 'npm run bench';
const README = 'README.md';
const START_MARKER = '<!-- bench:start -->';
const END_MARKER = '<!-- bench:end -->';

export function machine() {
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

export function markdown(
  date: string,
  host: ReturnType<typeof machine>,
  sections: readonly string[],
): string {
  return [measuredLine(date, host), ...sections.flatMap((section) => ['', section])].join('\n');
}

export function requestPathSection(path: RequestPathResult): string {
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
export function hotKeysSection(hot: HotKeysBenchResult): string {
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

export function authorizerSection(auth: AuthorizerBenchResult): string {
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
export function budgetsSection(budgets: BudgetsBenchResult): string {
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

export function coldStartSection(cold: ColdStartRow[]): string {
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

export function measuredLine(date: string, host: ReturnType<typeof machine>): string {
  return `Measured ${date} with \`${COMMAND}\` on ${host.cpu}, ${host.cores} cores, ${host.memory_gib} GiB, Node.js ${host.node} (${host.platform}); DynamoDB Local. Milliseconds are this-machine figures; the ratios are what carries over.`;
}

const thousands = (value: number) => value.toLocaleString('en-US');

/** GitHub's largest report (SPEC §3c) against the function's timeout, the bound GitHub's wait needs. */
export function secretScanningSection(scan: SecretScanningBenchResult): string {
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
export function tracerCost(cold: ColdStartRow[]): string {
  const traced = cold.find((row) => row.function === 'authorizer, tracing on');
  const untraced = cold.find((row) => row.function === 'authorizer');
  if (!traced || !untraced) return '';
  const ms = Math.round((traced.init_median_ms - untraced.init_median_ms) * 10) / 10;
  return `Tracing on adds ${ms} ms to the authorizer's module init: Tracer and the X-Ray SDK ship beside the bundle (the "on demand" column) and load only when tracing is active, as on every deployed stage; every warm request is unaffected (tracing adds no DynamoDB call).`;
}

export function updateReadme(section: string): void {
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) {
    console.error(`README has no ${START_MARKER} … ${END_MARKER} section; not updated`);
    return;
  }
  writeFileSync(README, `${readme.slice(0, start + START_MARKER.length)}\n${section}\n${readme.slice(end)}`);
}
