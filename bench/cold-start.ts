/**
 * Cold start: minified bundle bytes and module-init time (median of N fresh `node`
 * processes importing the bundle) of every function, beside the floor — a handler that
 * only creates a DynamoDB client. Functions load Tracer only when tracing is active
 * (SPEC §9), so the targets apply with tracing off; the authorizer is also measured with
 * tracing on (as in a Lambda with X-Ray active) to show what tracing costs.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { type Bundle, bundleFunction } from './lib/bundle.js';
import { median, round, summarize } from './lib/stats.js';

export interface ColdStartSubject {
  name: string;
  id: string;
  entry: string;
  /** Module init ≤ target × the floor (SPEC §9); none for informational rows. */
  target?: number;
  /** Extra environment of the measured processes. */
  env?: Record<string, string>;
}

/** What Powertools reads to decide that it runs inside Lambda (and so that tracing is on). */
const TRACING_ON = { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x', AWS_LAMBDA_FUNCTION_NAME: 'bench' };

export const COLD_START_SUBJECTS: readonly ColdStartSubject[] = [
  { name: 'floor (DynamoDB client only)', id: 'floor', entry: 'bench/fixtures/floor-handler.ts' },
  { name: 'authorizer', id: 'authorizer', entry: 'functions/authorizer/handler.ts', target: 1.3 },
  { name: 'requests', id: 'requests', entry: 'functions/requests/handler.ts', target: 1.6 },
  { name: 'keys-admin', id: 'keys-admin', entry: 'functions/keys-admin/handler.ts', target: 1.6 },
  {
    name: 'reference-brain',
    id: 'reference-brain',
    entry: 'functions/reference-brain/handler.ts',
    target: 1.6,
  },
  {
    name: 'authorizer, tracing on',
    id: 'authorizer-traced',
    entry: 'functions/authorizer/handler.ts',
    env: TRACING_ON,
  },
];

/** What the functions read at init; no network is touched while importing. */
const FUNCTION_ENV = {
  API_KEYS_TABLE: 'bench-ApiKeys',
  KEY_ENVIRONMENT: 'test',
  USERS_TABLE: 'bench-Users',
  USER_KEYS_TABLE: 'bench-UserKeys',
  IDEMPOTENCY_TABLE: 'bench-Idempotency',
  BUDGETS_TABLE: 'bench-Budgets',
  BRAIN_FUNCTION_NAME: 'reference-brain',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'keygate',
  POWERTOOLS_METRICS_NAMESPACE: 'keygate',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/**
 * The Lambda Node.js runtime's `awslambda` global (response streaming), which it defines before
 * it imports a handler: part of the runtime, not of the function's init, so the bench defines
 * a minimal one before the clock starts.
 */
const LAMBDA_GLOBAL =
  'globalThis.awslambda = { streamifyResponse: (handler) => handler, HttpResponseStream: { from: (stream) => stream } };';

function initTimeMs(file: string, env: Record<string, string> = {}): number {
  const script = `${LAMBDA_GLOBAL} const t0 = performance.now(); await import(${JSON.stringify(resolve(file))}); process.stdout.write(String(performance.now() - t0));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...FUNCTION_ENV, ...env },
    encoding: 'utf8',
  });
  return Number(out);
}

export interface ColdStartRow {
  function: string;
  bundle_bytes: number;
  /** Modules beside the bundle, loaded only on demand (tracing). */
  lazy_bytes: number;
  init_median_ms: number;
  init_p90_ms: number;
  /** Median over the rounds of (this init / the floor's init measured just before it). */
  init_vs_floor: number;
  bytes_vs_floor: number;
  /** Fresh processes measured for this row. */
  runs: number;
  /** The SPEC §9 target for init × floor, if the row has one. */
  target: number | null;
  meets_target: boolean | null;
}

export async function runColdStart(runs = 40): Promise<ColdStartRow[]> {
  const bundles = [];
  const built = new Map<string, Bundle>();
  for (const subject of COLD_START_SUBJECTS) {
    const bundle = built.get(subject.entry) ?? (await bundleFunction(subject.id, subject.entry));
    built.set(subject.entry, bundle);
    bundles.push({ subject, ...bundle });
  }
  // Each round measures every subject right after a fresh floor process, so a ratio pairs
  // two neighbouring measurements and slow swings of the machine's speed cancel out.
  const samples = new Map<string, number[]>(bundles.map((bundle) => [bundle.subject.id, []]));
  const ratios = new Map<string, number[]>(bundles.map((bundle) => [bundle.subject.id, []]));
  const [floor] = bundles;
  if (!floor) throw new Error('no floor subject');
  initTimeMs(floor.file); // warm the filesystem cache once
  for (let run = 0; run < runs; run += 1) {
    for (const bundle of bundles) {
      const floorMs = initTimeMs(floor.file, floor.subject.env);
      const ms = bundle === floor ? floorMs : initTimeMs(bundle.file, bundle.subject.env);
      samples.get(bundle.subject.id)?.push(ms);
      ratios.get(bundle.subject.id)?.push(ms / floorMs);
    }
  }
  return bundles.map((bundle) => {
    const init = summarize(samples.get(bundle.subject.id) ?? []);
    const initVsFloor = round(median(ratios.get(bundle.subject.id) ?? []), 2);
    const target = bundle.subject.target ?? null;
    return {
      function: bundle.subject.name,
      bundle_bytes: bundle.bytes,
      lazy_bytes: bundle.lazyBytes,
      init_median_ms: init.median_ms,
      init_p90_ms: init.p90_ms,
      init_vs_floor: initVsFloor,
      runs,
      bytes_vs_floor: round(bundle.bytes / floor.bytes, 2),
      target,
      meets_target: target === null ? null : initVsFloor <= target,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runColdStart(Number(process.env.BENCH_RUNS ?? 40)));
}
