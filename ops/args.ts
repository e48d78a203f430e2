/**
 * Flags to keys-admin event (SPEC §6): which flags each action takes, the usage text, and
 * `parseCli`, which turns argv into the event plus where to send it and how to print the
 * answer. Pure apart from reading the clock and the environment, both injectable, so every
 * rule here is unit-testable; any mistake is a `UsageError` that the CLI prints with usage.
 */
import { parseArgs } from 'node:util';
import { STAGE_NAMES, type StageName } from '../infra/stages.js';
import { ADMIN_ACTIONS, type AdminAction } from '../shared/domain/admin/events.js';
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
  | 'next-token';

/** Which flags each action takes; `required` ones must be given. */
export const ACTION_FLAGS: Record<AdminAction, { required: Flag[]; optional: Flag[]; usage: string }> = {
  'create-user': {
    required: ['user'],
    optional: ['project'],
    usage: '--user ID [--project DEFAULT_PROJECT_ID]',
  },
  create: {
    required: ['user'],
    optional: ['name', 'project', 'expires'],
    usage: '--user ID [--name NAME] [--project ID] [--expires ISO-8601|30d|12h]',
  },
  list: {
    required: ['user'],
    optional: ['limit', 'next-token'],
    usage: '--user ID [--limit N] [--next-token TOKEN]',
  },
  get: { required: ['user', 'key'], optional: [], usage: '--user ID --key KEY_ID' },
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
    'Where:',
    `  --endpoint URL  a local Invoke API (default ${DEFAULT_LOCAL_ENDPOINT_HELP}, i.e. npm start)`,
    `  --stage NAME    the deployed stage (${STAGE_NAMES.join('|')}): the function named by stack keygate-NAME's`,
    '                  outputs; AWS credentials and region come from the usual AWS configuration',
    'Output:',
    '  --json          print the function answer as JSON (for scripts)',
    '  -h, --help      this text',
    '',
    'Examples:',
    '  npm run keys -- create-user --user u1',
    '  npm run keys -- create --user u1 --name ci',
    '  npm run keys -- list --user u1',
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

function integer(flag: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${raw}".`);
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

  const event: Record<string, unknown> = { action, userId: values.user };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) event[field] = value;
  };
  set(action === 'create-user' ? 'defaultProjectId' : 'projectId', values.project);
  set('name', values.name);
  set('keyId', values.key);
  set('reason', values.reason);
  if (values.expires !== undefined) event.expiresAt = parseExpiry(values.expires, now);
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

const ACTION_FLAGS_ALL: Record<Flag, { type: 'string' }> = {
  user: { type: 'string' },
  name: { type: 'string' },
  project: { type: 'string' },
  expires: { type: 'string' },
  key: { type: 'string' },
  reason: { type: 'string' },
  grace: { type: 'string' },
  limit: { type: 'string' },
  'next-token': { type: 'string' },
};

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
