/**
 * Flags to keys-admin event (SPEC §6): which flags each action takes, the usage text, and
 * `parseCli`, which turns argv into the event plus where to send it and how to print the
 * answer. Pure apart from reading the clock and the environment, both injectable, so every
 * rule here is unit-testable; any mistake is a `UsageError` that the CLI prints with usage.
 */
import { parseArgs } from 'node:util';
import { STAGE_NAMES, type StageName } from '../infra/stages.js';
import { ADMIN_ACTIONS, type AdminAction, MAX_LIST_LIMIT } from '../shared/domain/admin/events.js';
import { FALLBACK_PER_CALL_HOLD_USD } from '../shared/domain/budgets/admin.js';
import { MAX_BUDGET_MICROS, MAX_BUDGET_USD, parseUsd, toUsd } from '../shared/domain/budgets/money.js';
import { MAX_SHARDS, MIN_SHARDS } from '../shared/domain/keys/shards.js';
import { MAX_REPEATED_CALLS } from './run.js';
import { DEFAULT_LOCAL_ENDPOINT_HELP, defaultLocalEndpoint, type Target } from './target.js';

export type Flag =
  | 'user'
  | 'name'
  | 'project'
  | 'expires'
  | 'key'
  | 'reason'
  | 'grace'
  | 'limit'
  | 'next-token'
  | 'rate-limit'
  | 'quota'
  | 'budget'
  | 'hold'
  | 'providers'
  | 'models'
  | 'operations'
  | 'shards'
  | 'clear-name'
  | 'clear-expiry'
  | 'clear-rate-limit'
  | 'clear-quota'
  | 'clear-budget'
  | 'clear-scopes';

const SCOPE_FLAGS = ['providers', 'models', 'operations'] as const;
/** A key's limits, budget and scopes, as `create` and `update` take them. */
const LIMIT_FLAGS: Flag[] = ['rate-limit', 'quota', 'budget', 'hold', ...SCOPE_FLAGS, 'shards'];
const LIMITS_USAGE =
  '[--rate-limit N/SECONDS] [--quota N/day|month|total] [--budget USD/day|month|total [--hold USD]] [--providers A,B] [--models A,B] [--operations A,B] [--shards N]';
/** `update`'s flags that remove a setting: the event field they set to null, and the flags that set it instead. */
const CLEAR_FLAGS = {
  'clear-name': { field: 'name', setters: ['name'] },
  'clear-expiry': { field: 'expiresAt', setters: ['expires'] },
  'clear-rate-limit': { field: 'rateLimit', setters: ['rate-limit'] },
  'clear-quota': { field: 'quota', setters: ['quota'] },
  'clear-budget': { field: 'budget', setters: ['budget', 'hold'] },
  'clear-scopes': { field: 'scopes', setters: SCOPE_FLAGS },
} as const satisfies Partial<Record<Flag, { field: string; setters: readonly Flag[] }>>;

/** Which flags each action takes; `required` ones must be given. */
export const ACTION_FLAGS: Record<AdminAction, { required: Flag[]; optional: Flag[]; usage: string }> = {
  'create-user': {
    required: ['user'],
    optional: ['project'],
    usage: '--user ID [--project DEFAULT_PROJECT_ID]',
  },
  create: {
    required: ['user'],
    optional: ['name', 'project', 'expires', ...LIMIT_FLAGS],
    usage: `--user ID [--name NAME] [--project ID] [--expires ISO-8601|30d|12h] ${LIMITS_USAGE}`,
  },
  update: {
    required: ['user', 'key'],
    optional: ['name', 'expires', ...LIMIT_FLAGS, ...(Object.keys(CLEAR_FLAGS) as Flag[])],
    usage: `--user ID --key KEY_ID [--name NAME] [--expires ISO-8601|30d|12h] ${LIMITS_USAGE} [--clear-name] [--clear-expiry] [--clear-rate-limit] [--clear-quota] [--clear-budget] [--clear-scopes]`,
  },
  list: {
    required: ['user'],
    optional: ['limit', 'next-token'],
    usage: '--user ID [--limit N] [--next-token TOKEN]',
  },
  get: { required: ['user', 'key'], optional: [], usage: '--user ID --key KEY_ID' },
  usage: {
    required: ['user'],
    optional: ['key', 'limit', 'next-token'],
    usage: '--user ID [--key KEY_ID] [--limit N] [--next-token TOKEN]',
  },
  revoke: {
    required: ['user', 'key'],
    optional: ['reason'],
    usage: '--user ID --key KEY_ID [--reason TEXT]',
  },
  rotate: {
    required: ['user'],
    optional: ['key', 'grace', 'name'],
    usage: '--user ID [--key KEY_ID] [--grace SECONDS] [--name NAME]',
  },
  'suspend-user': { required: ['user'], optional: [], usage: '--user ID' },
  'reactivate-user': { required: ['user'], optional: [], usage: '--user ID' },
};

export function usage(): string {
  const width = Math.max(...ADMIN_ACTIONS.map((action) => action.length));
  return [
    'Usage: npm run keys -- <action> [flags]',
    '',
    'Actions (the keys-admin events):',
    ...ADMIN_ACTIONS.map((action) => `  ${action.padEnd(width)}  ${ACTION_FLAGS[action].usage}`),
    '',
    'Limits and scopes (create, update):',
    '  --rate-limit N/SECONDS  at most N calls per fixed window of SECONDS (1-86400; also 30s, 15m, 1h, 1d)',
    '  --quota N/PERIOD        at most N calls per day (UTC), calendar month, or in total',
    '  --budget USD/PERIOD     at most USD (up to 6 decimals) of brain payments per day (UTC), calendar',
    '                          month, or in total; update: replaces the budget, and "--budget none" clears it',
    `  --hold USD              with --budget: what one call holds while it runs (default: the stage's,`,
    `                          ${FALLBACK_PER_CALL_HOLD_USD.toFixed(2)} locally, never above the budget's limit)`,
    '  --providers A,B         allow only these providers (lowercase slugs)',
    '  --models A,B            allow only these models; an entry ending in * matches a prefix (gpt-4o*)',
    '  --operations A,B        allow only these operation types (chat, embedding, ...)',
    `  --shards N              count the key on N items (${MIN_SHARDS}-${MAX_SHARDS}): for one key beyond ~1,000 calls/s`,
    '                          (docs/decisions/0012-sharded-keys.md); update: re-shards, --shards 1 undoes it',
    '  --clear-...             update only: remove the name, expiry, rate limit, quota, budget or scopes',
    "  On update the scope flags given replace the key's scopes as a whole.",
    '',
    'Where:',
    `  --endpoint URL  a local Invoke API (default ${DEFAULT_LOCAL_ENDPOINT_HELP}, i.e. npm start)`,
    `  --stage NAME    the deployed stage (${STAGE_NAMES.join('|')}): the function named by stack keygate-NAME's`,
    '                  outputs; AWS credentials and region come from the usual AWS configuration',
    'Output:',
    '  --json          print the function answer as JSON (for scripts)',
    '  -h, --help      this text',
    '',
    'Long actions:',
    `  usage reads every page (${MAX_LIST_LIMIT} keys a call) unless --key, --limit or --next-token picks one.`,
    `  suspend-user and reactivate-user repeat the call until it is complete (at most ${MAX_REPEATED_CALLS} calls).`,
    '  On a terminal, progress shows on one line of stderr, cleared before the result; when stderr',
    '  is not a terminal there is none, and a long action ends stdout with one plain summary line.',
    '',
    'Examples:',
    '  npm run keys -- create-user --user u1',
    '  npm run keys -- create --user u1 --name ci',
    '  npm run keys -- create --user u1 --rate-limit 100/60 --quota 10000/month --providers openai',
    '  npm run keys -- create --user u1 --name agent --budget 5/day --hold 0.10',
    '  npm run keys -- update --user u1 --key key_… --quota 20000/month --clear-rate-limit',
    '  npm run keys -- update --user u1 --key key_… --budget 25/month',
    '  npm run keys -- create --user u1 --name hot --rate-limit 20000/1 --shards 16',
    '  npm run keys -- list --user u1',
    '  npm run keys -- usage --user u1',
    '  npm run keys -- revoke --user u1 --key key_…',
    '  npm run keys -- rotate --user u1 --grace 3600',
  ].join('\n');
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliCommand {
  action: AdminAction;
  event: Record<string, unknown>;
  json: boolean;
  target: Target;
}

/** `N/SECONDS` (or `N/15m`, `N/1h`, `N/1d`) → a rate limit. */
export function parseRateLimit(raw: string): { limit: number; windowSeconds: number } {
  const match = /^(\d+)\/(\d+)([smhd]?)$/.exec(raw);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[(match?.[3] ?? '') as '' | 's' | 'm' | 'h' | 'd'];
  const limit = Number(match?.[1]);
  const windowSeconds = Number(match?.[2]) * unit;
  if (!match || limit < 1 || windowSeconds < 1) {
    throw new UsageError(
      `--rate-limit takes LIMIT/SECONDS such as 100/60 (or 100/1m, 5000/1h), got "${raw}".`,
    );
  }
  return { limit, windowSeconds };
}

/** `N/day`, `N/month` or `N/total` → a quota. */
export function parseQuota(raw: string): { limit: number; period: string } {
  const match = /^(\d+)\/(day|month|total)$/.exec(raw);
  if (!match || Number(match[1]) < 1) {
    throw new UsageError(
      `--quota takes LIMIT/PERIOD, PERIOD one of day, month, total (10000/month), got "${raw}".`,
    );
  }
  return { limit: Number(match[1]), period: match[2] as string };
}

/** A USD amount: > 0, at most 1,000,000, at most 6 decimals (as keys-admin takes it), as a JSON number. */
function usdAmount(raw: string): number | undefined {
  const amount = /^\d+(\.\d+)?$/.test(raw) ? parseUsd(raw) : undefined;
  return amount !== undefined && amount > 0 && amount <= MAX_BUDGET_MICROS ? toUsd(amount) : undefined;
}

/** `USD/day`, `USD/month` or `USD/total` → a budget (`none`: cleared, on update). */
export function parseBudget(raw: string): { limit: number; period: string } | 'none' {
  if (raw === 'none') return 'none';
  const match = /^([^/]+)\/(day|month|total)$/.exec(raw);
  const limit = match ? usdAmount(match[1] as string) : undefined;
  if (!match || limit === undefined) {
    throw new UsageError(
      `--budget takes USD/PERIOD, USD more than 0 and at most ${MAX_BUDGET_USD} with up to 6 decimals, PERIOD one of day, month, total (25/month, 0.50/day), got "${raw}".`,
    );
  }
  return { limit, period: match[2] as string };
}

/** `--hold USD`: what one call of a budgeted key holds. */
export function parseHold(raw: string): number {
  const hold = usdAmount(raw);
  if (hold === undefined) {
    throw new UsageError(`--hold takes a USD amount more than 0 with up to 6 decimals (0.10), got "${raw}".`);
  }
  return hold;
}

/** `--budget` and `--hold` → the event's `budget` (undefined when neither is given). */
function budgetOf(action: AdminAction, rawBudget?: string, rawHold?: string): unknown {
  if (rawBudget === undefined) {
    if (rawHold !== undefined) {
      throw new UsageError(
        '--hold goes with --budget (a budget is set as a whole: --budget 25/month --hold 0.10).',
      );
    }
    return undefined;
  }
  const budget = parseBudget(rawBudget);
  if (budget === 'none') {
    if (action !== 'update')
      throw new UsageError('--budget none clears a budget on update; omit --budget instead.');
    if (rawHold !== undefined)
      throw new UsageError('--hold and --budget none contradict each other; give one.');
    return null;
  }
  return rawHold === undefined ? budget : { ...budget, perCallHold: parseHold(rawHold) };
}

/** A comma-separated list without empty entries. */
function list(flag: string, raw: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => entry === '')) {
    throw new UsageError(`--${flag} takes a comma-separated list such as a,b, got "${raw}".`);
  }
  return entries;
}

function integer(flag: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${raw}".`);
  return Number(raw);
}

/** `--shards N`: an integer from MIN_SHARDS to MAX_SHARDS. */
function shardsOf(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < MIN_SHARDS || Number(raw) > MAX_SHARDS)
    throw new UsageError(`--shards takes an integer from ${MIN_SHARDS} to ${MAX_SHARDS}, got "${raw}".`);
  return Number(raw);
}

/** An ISO 8601 instant, or a duration from now: `90m`, `12h`, `30d`. */
export function parseExpiry(raw: string, now: Date = new Date()): string {
  const relative = /^(\d+)([mhd])$/.exec(raw);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() + Number(relative[1]) * unit).toISOString();
  }
  // Date.parse alone accepts "2030-01-31" (midnight UTC) and looser forms; insist on a time.
  if (Number.isNaN(Date.parse(raw)) || !/^\d{4}-\d{2}-\d{2}T/.test(raw)) {
    throw new UsageError(
      `--expires takes an ISO 8601 instant (2030-01-31T00:00:00Z) or 30d / 12h / 90m, got "${raw}".`,
    );
  }
  return raw;
}

/**
 * argv (without `node script`) to a command, or `'help'`. `env` gives the default local port
 * (`LAMBDA_PORT`); `now` anchors relative `--expires` values.
 */
export function parseCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  now: Date = new Date(),
): CliCommand | 'help' {
  let parsed: ReturnType<typeof parseArgsStrict>;
  try {
    parsed = parseArgsStrict(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('Missing <action>.');
  if (positionals.length > 1) throw new UsageError(`One action at a time; got "${positionals.join(' ')}".`);
  const action = positionals[0] as AdminAction;
  const spec = ACTION_FLAGS[action];
  if (!ADMIN_ACTIONS.includes(action) || !spec) throw new UsageError(`Unknown action "${positionals[0]}".`);

  // parseArgs knows every action's flags, so per-action checks happen here.
  const given = (Object.keys(ACTION_FLAGS_ALL) as Flag[]).filter((flag) => values[flag] !== undefined);
  for (const flag of given) {
    if (!spec.required.includes(flag) && !spec.optional.includes(flag)) {
      throw new UsageError(`${action} does not take --${flag}. ${action} ${spec.usage}`);
    }
  }
  for (const flag of spec.required) {
    if (values[flag] === undefined)
      throw new UsageError(`${action} needs --${flag}. ${action} ${spec.usage}`);
  }
  for (const [clear, { setters }] of Object.entries(CLEAR_FLAGS)) {
    const setter = setters.find((flag) => values[flag] !== undefined);
    if (values[clear as Flag] !== undefined && setter) {
      throw new UsageError(`--${setter} and --${clear} contradict each other; give one.`);
    }
  }
  if (action === 'update' && given.every((flag) => spec.required.includes(flag))) {
    throw new UsageError(`update needs at least one change. update ${spec.usage}`);
  }

  const event: Record<string, unknown> = { action, userId: values.user };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) event[field] = value;
  };
  set(action === 'create-user' ? 'defaultProjectId' : 'projectId', values.project);
  set('name', values.name);
  set('keyId', values.key);
  set('reason', values.reason);
  if (values.expires !== undefined) event.expiresAt = parseExpiry(values.expires, now);
  if (values['rate-limit'] !== undefined) event.rateLimit = parseRateLimit(values['rate-limit']);
  if (values.quota !== undefined) event.quota = parseQuota(values.quota);
  const budget = budgetOf(action, values.budget, values.hold);
  if (budget !== undefined) event.budget = budget;
  const scopes: Record<string, string[]> = {};
  for (const flag of SCOPE_FLAGS) {
    const raw = values[flag];
    if (raw !== undefined) scopes[flag] = list(flag, raw);
  }
  if (Object.keys(scopes).length > 0) event.scopes = scopes;
  for (const [clear, { field }] of Object.entries(CLEAR_FLAGS)) {
    if (values[clear as Flag] !== undefined) event[field] = null;
  }
  if (values.shards !== undefined) event.shards = shardsOf(values.shards);
  if (values.grace !== undefined) event.graceSeconds = integer('grace', values.grace, 0);
  if (values.limit !== undefined) event.limit = integer('limit', values.limit, 1);
  set('nextToken', values['next-token']);

  if (values.stage !== undefined && values.endpoint !== undefined) {
    throw new UsageError('Use either --stage (deployed) or --endpoint (local), not both.');
  }
  let target: Target;
  if (values.stage !== undefined) {
    if (!(STAGE_NAMES as readonly string[]).includes(values.stage)) {
      throw new UsageError(`Unknown stage "${values.stage}"; use ${STAGE_NAMES.join('|')}.`);
    }
    target = { kind: 'stage', stage: values.stage as StageName };
  } else {
    const endpoint = values.endpoint ?? defaultLocalEndpoint(env);
    if (!/^https?:\/\/[^\s/]+/.test(endpoint))
      throw new UsageError(`--endpoint must be a URL, got "${endpoint}".`);
    target = { kind: 'local', endpoint };
  }
  return { action, event, json: values.json ?? false, target };
}

const ACTION_FLAGS_ALL = {
  user: { type: 'string' },
  name: { type: 'string' },
  project: { type: 'string' },
  expires: { type: 'string' },
  key: { type: 'string' },
  reason: { type: 'string' },
  grace: { type: 'string' },
  limit: { type: 'string' },
  'next-token': { type: 'string' },
  'rate-limit': { type: 'string' },
  quota: { type: 'string' },
  budget: { type: 'string' },
  hold: { type: 'string' },
  providers: { type: 'string' },
  models: { type: 'string' },
  operations: { type: 'string' },
  shards: { type: 'string' },
  'clear-name': { type: 'boolean' },
  'clear-expiry': { type: 'boolean' },
  'clear-rate-limit': { type: 'boolean' },
  'clear-quota': { type: 'boolean' },
  'clear-budget': { type: 'boolean' },
  'clear-scopes': { type: 'boolean' },
} as const satisfies Record<Flag, { type: 'string' | 'boolean' }>;

function parseArgsStrict(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...ACTION_FLAGS_ALL,
      json: { type: 'boolean' },
      stage: { type: 'string' },
      endpoint: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
