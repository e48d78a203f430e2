/** The ops CLI's flags → keys-admin event: per-action flags, targets, `--expires` and integers. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LAMBDA_PORT } from '../../../infra/local-endpoints.js';
import { STAGE_NAMES } from '../../../infra/stages.js';
import {
  ACTION_FLAGS,
  type CliCommand,
  type Flag,
  parseBudget,
  parseCli,
  parseExpiry,
  parseHold,
  parseQuota,
  parseRateLimit,
  UsageError,
  usage,
} from '../../../ops/args.js';
import { ADMIN_ACTIONS, type AdminAction } from '../../../shared/domain/admin/events.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const LOCAL = `http://127.0.0.1:${DEFAULT_LAMBDA_PORT}`;

/** parseCli with no LAMBDA_PORT and a fixed clock, expecting a command rather than help. */
function command(argv: string[], env: NodeJS.ProcessEnv = {}): CliCommand {
  const parsed = parseCli(argv, env, NOW);
  if (parsed === 'help') throw new Error('expected a command, got help');
  return parsed;
}

/** The UsageError message parseCli throws for `argv`. */
function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCli(argv, env, NOW);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`expected a UsageError for ${argv.join(' ')}`);
}

/**
 * A valid value for each flag (none for a switch), and the event field it becomes (a dotted
 * path inside it for the scope lists).
 */
const FLAG_VALUES: Record<Flag, { raw?: string; field: string; value: unknown }> = {
  user: { raw: 'u1', field: 'userId', value: 'u1' },
  name: { raw: 'ci', field: 'name', value: 'ci' },
  project: { raw: 'p1', field: 'projectId', value: 'p1' },
  expires: { raw: '2030-01-31T00:00:00Z', field: 'expiresAt', value: '2030-01-31T00:00:00Z' },
  key: { raw: 'key_abc', field: 'keyId', value: 'key_abc' },
  reason: { raw: 'leaked', field: 'reason', value: 'leaked' },
  grace: { raw: '3600', field: 'graceSeconds', value: 3600 },
  limit: { raw: '10', field: 'limit', value: 10 },
  'next-token': { raw: 'tok', field: 'nextToken', value: 'tok' },
  'rate-limit': { raw: '100/60', field: 'rateLimit', value: { limit: 100, windowSeconds: 60 } },
  quota: { raw: '10000/month', field: 'quota', value: { limit: 10000, period: 'month' } },
  budget: { raw: '25/month', field: 'budget.limit', value: 25 },
  hold: { raw: '0.10', field: 'budget.perCallHold', value: 0.1 },
  providers: { raw: 'openai,anthropic', field: 'scopes.providers', value: ['openai', 'anthropic'] },
  models: { raw: 'gpt-4o*,claude-*', field: 'scopes.models', value: ['gpt-4o*', 'claude-*'] },
  operations: { raw: 'chat,embedding', field: 'scopes.operations', value: ['chat', 'embedding'] },
  shards: { raw: '16', field: 'shards', value: 16 },
  'clear-name': { field: 'name', value: null },
  'clear-expiry': { field: 'expiresAt', value: null },
  'clear-rate-limit': { field: 'rateLimit', value: null },
  'clear-quota': { field: 'quota', value: null },
  'clear-budget': { field: 'budget', value: null },
  'clear-scopes': { field: 'scopes', value: null },
};
const ALL_FLAGS = Object.keys(FLAG_VALUES) as Flag[];
const flagArgs = (flags: readonly Flag[]) =>
  flags.flatMap((flag) => {
    const { raw } = FLAG_VALUES[flag];
    return raw === undefined ? [`--${flag}`] : [`--${flag}`, raw];
  });
/** The event's value at a dotted path. */
const at = (event: Record<string, unknown>, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], event);
const isClear = (flag: Flag) => flag.startsWith('clear-');

const LIMITS: Flag[] = [
  'rate-limit',
  'quota',
  'budget',
  'hold',
  'providers',
  'models',
  'operations',
  'shards',
];
const CLEARS: Flag[] = [
  'clear-name',
  'clear-expiry',
  'clear-rate-limit',
  'clear-quota',
  'clear-budget',
  'clear-scopes',
];

/** SPEC §6, as the CLI exposes it. */
const EXPECTED: Record<AdminAction, { required: Flag[]; optional: Flag[] }> = {
  'create-user': { required: ['user'], optional: ['project'] },
  create: { required: ['user'], optional: ['name', 'project', 'expires', ...LIMITS] },
  update: { required: ['user', 'key'], optional: ['name', 'expires', ...LIMITS, ...CLEARS] },
  list: { required: ['user'], optional: ['limit', 'next-token'] },
  get: { required: ['user', 'key'], optional: [] },
  usage: { required: ['user'], optional: ['key', 'limit', 'next-token'] },
  revoke: { required: ['user', 'key'], optional: ['reason'] },
  rotate: { required: ['user'], optional: ['key', 'grace', 'name'] },
  'suspend-user': { required: ['user'], optional: [] },
  'reactivate-user': { required: ['user'], optional: [] },
};

describe('ops CLI arguments', () => {
  it('has a flag table for exactly the keys-admin actions', () => {
    expect(Object.keys(ACTION_FLAGS).sort()).toEqual([...ADMIN_ACTIONS].sort());
    for (const action of ADMIN_ACTIONS) {
      const { required, optional } = ACTION_FLAGS[action];
      expect({ action, required, optional }).toEqual({ action, ...EXPECTED[action] });
    }
  });

  describe.each(ADMIN_ACTIONS.map((action) => [action]))('%s', (action) => {
    const { required, optional } = EXPECTED[action];

    // `update` with nothing to change is refused (tested below).
    if (action !== 'update') {
      it('builds the event from the required flags alone', () => {
        const parsed = command([action, ...flagArgs(required)]);

        const event: Record<string, unknown> = { action };
        for (const flag of required) event[FLAG_VALUES[flag].field] = FLAG_VALUES[flag].value;
        expect(parsed).toEqual({ action, event, json: false, target: { kind: 'local', endpoint: LOCAL } });
      });
    }

    it('takes every optional flag (every one that sets a value)', () => {
      const setters = optional.filter((flag) => !isClear(flag));
      const parsed = command([action, ...flagArgs([...required, ...setters]), '--json']);

      for (const flag of [...required, ...setters]) {
        const field =
          action === 'create-user' && flag === 'project' ? 'defaultProjectId' : FLAG_VALUES[flag].field;
        expect(at(parsed.event, field)).toEqual(FLAG_VALUES[flag].value);
      }
      const fields = new Set([...required, ...setters].map((flag) => FLAG_VALUES[flag].field.split('.')[0]));
      expect(Object.keys(parsed.event)).toHaveLength(1 + fields.size);
      expect(parsed.json).toBe(true);
    });

    it.each(required.map((flag) => [flag]))('needs --%s', (flag) => {
      const others = required.filter((other) => other !== flag);

      expect(usageError([action, ...flagArgs(others)])).toBe(
        `${action} needs --${flag}. ${action} ${ACTION_FLAGS[action].usage}`,
      );
    });

    const foreign = ALL_FLAGS.filter((flag) => !required.includes(flag) && !optional.includes(flag));
    it.each(foreign.map((flag) => [flag]))('refuses --%s', (flag) => {
      expect(usageError([action, ...flagArgs([...required, flag])])).toBe(
        `${action} does not take --${flag}. ${action} ${ACTION_FLAGS[action].usage}`,
      );
    });
  });

  it('names the project of create-user its default project', () => {
    expect(command(['create-user', '--user', 'u1', '--project', 'p9']).event).toEqual({
      action: 'create-user',
      userId: 'u1',
      defaultProjectId: 'p9',
    });
  });

  it('answers help for -h and --help, even with an action', () => {
    expect(parseCli(['--help'], {})).toBe('help');
    expect(parseCli(['-h'], {})).toBe('help');
    expect(parseCli(['create', '--help'], {})).toBe('help');
  });

  it('needs exactly one known action', () => {
    expect(usageError([])).toBe('Missing <action>.');
    expect(usageError(['list', 'create', '--user', 'u1'])).toBe('One action at a time; got "list create".');
    expect(usageError(['bogus', '--user', 'u1'])).toBe('Unknown action "bogus".');
    expect(usageError(['toString', '--user', 'u1'])).toBe('Unknown action "toString".');
  });

  it('refuses flags no action takes', () => {
    expect(usageError(['list', '--user', 'u1', '--bogus'])).toMatch(/^Unknown option '--bogus'/);
    expect(usageError(['list', '--user'])).toMatch(/--user/);
  });

  describe('target', () => {
    it('defaults to the local Invoke API on LAMBDA_PORT, else the default port', () => {
      expect(command(['list', '--user', 'u1'], {}).target).toEqual({ kind: 'local', endpoint: LOCAL });
      expect(command(['list', '--user', 'u1'], { LAMBDA_PORT: '' }).target).toEqual({
        kind: 'local',
        endpoint: LOCAL,
      });
      expect(command(['list', '--user', 'u1'], { LAMBDA_PORT: '4555' }).target).toEqual({
        kind: 'local',
        endpoint: 'http://127.0.0.1:4555',
      });
    });

    it('takes another local endpoint, which must be an http(s) URL', () => {
      expect(
        command(['list', '--user', 'u1', '--endpoint', 'https://lambda.test:9000'], { LAMBDA_PORT: '4555' })
          .target,
      ).toEqual({ kind: 'local', endpoint: 'https://lambda.test:9000' });
      expect(usageError(['list', '--user', 'u1', '--endpoint', 'ftp://x'])).toBe(
        '--endpoint must be a URL, got "ftp://x".',
      );
    });

    it.each(STAGE_NAMES.map((stage) => [stage]))('takes --stage %s', (stage) => {
      expect(command(['list', '--user', 'u1', '--stage', stage]).target).toEqual({ kind: 'stage', stage });
    });

    it('refuses an unknown stage', () => {
      expect(usageError(['list', '--user', 'u1', '--stage', 'qa'])).toBe(
        `Unknown stage "qa"; use ${STAGE_NAMES.join('|')}.`,
      );
    });

    it('takes --stage or --endpoint, not both', () => {
      expect(usageError(['list', '--user', 'u1', '--stage', 'dev', '--endpoint', 'http://127.0.0.1:1'])).toBe(
        'Use either --stage (deployed) or --endpoint (local), not both.',
      );
    });
  });

  describe('--expires', () => {
    it.each([
      ['30d', '2026-03-31T12:00:00.000Z'],
      ['12h', '2026-03-02T00:00:00.000Z'],
      ['90m', '2026-03-01T13:30:00.000Z'],
      ['0m', '2026-03-01T12:00:00.000Z'],
    ])('reads %s as a duration from now', (raw, expected) => {
      expect(parseExpiry(raw, NOW)).toBe(expected);
      expect(command(['create', '--user', 'u1', '--expires', raw]).event.expiresAt).toBe(expected);
    });

    it.each(['2030-01-31T00:00:00Z', '2030-01-31T00:00:00.000+02:00'])(
      'passes the instant %s as given',
      (raw) => {
        expect(parseExpiry(raw, NOW)).toBe(raw);
      },
    );

    it.each(['garbage', '2030-01-31', '30w', '1.5d', '-1d', 'd', '2030-13-45T00:00:00Z', ''])(
      'refuses "%s"',
      (raw) => {
        expect(() => parseExpiry(raw, NOW)).toThrow(UsageError);
        expect(() => parseExpiry(raw, NOW)).toThrow(
          `--expires takes an ISO 8601 instant (2030-01-31T00:00:00Z) or 30d / 12h / 90m, got "${raw}".`,
        );
      },
    );
  });

  describe('integer flags', () => {
    it('takes --grace 0 and up, --limit 1 and up', () => {
      expect(command(['rotate', '--user', 'u1', '--grace', '0']).event.graceSeconds).toBe(0);
      expect(command(['list', '--user', 'u1', '--limit', '1']).event.limit).toBe(1);
      expect(command(['list', '--user', 'u1', '--limit', '1000']).event.limit).toBe(1000);
    });

    it.each([
      ['rotate', 'grace', 'abc', 0],
      ['rotate', 'grace', '1.5', 0],
      ['rotate', 'grace', '-1', 0],
      ['rotate', 'grace', '', 0],
      ['list', 'limit', '0', 1],
      ['list', 'limit', '10x', 1],
    ])('%s refuses --%s "%s"', (action, flag, raw, min) => {
      expect(usageError([action, '--user', 'u1', `--${flag}=${raw}`])).toBe(
        `--${flag} must be an integer ≥ ${min}, got "${raw}".`,
      );
    });
  });

  describe('limits and scopes', () => {
    it.each([
      ['100/60', { limit: 100, windowSeconds: 60 }],
      ['100/60s', { limit: 100, windowSeconds: 60 }],
      ['10/15m', { limit: 10, windowSeconds: 900 }],
      ['5000/1h', { limit: 5000, windowSeconds: 3600 }],
      ['1/1d', { limit: 1, windowSeconds: 86_400 }],
    ])('reads --rate-limit %s as limit/window', (raw, expected) => {
      expect(parseRateLimit(raw)).toEqual(expected);
    });

    it.each(['100', '100/', '/60', '0/60', '100/0', '100/1w', '1.5/60', '-1/60', 'abc', '100/60/1'])(
      'refuses --rate-limit "%s"',
      (raw) => {
        expect(usageError(['create', '--user', 'u1', `--rate-limit=${raw}`])).toBe(
          `--rate-limit takes LIMIT/SECONDS such as 100/60 (or 100/1m, 5000/1h), got "${raw}".`,
        );
      },
    );

    it.each([
      ['10000/month', { limit: 10_000, period: 'month' }],
      ['500/day', { limit: 500, period: 'day' }],
      ['1/total', { limit: 1, period: 'total' }],
    ])('reads --quota %s as limit/period', (raw, expected) => {
      expect(parseQuota(raw)).toEqual(expected);
    });

    it.each(['10000', '10000/week', '0/day', 'month/10', '10000/Month', ''])(
      'refuses --quota "%s"',
      (raw) => {
        expect(usageError(['create', '--user', 'u1', `--quota=${raw}`])).toBe(
          `--quota takes LIMIT/PERIOD, PERIOD one of day, month, total (10000/month), got "${raw}".`,
        );
      },
    );

    it('splits the scope lists on commas and trims the entries', () => {
      expect(
        command(['create', '--user', 'u1', '--providers', 'openai, anthropic', '--models', 'gpt-4o*']).event
          .scopes,
      ).toEqual({ providers: ['openai', 'anthropic'], models: ['gpt-4o*'] });
    });

    it.each(['', 'openai,', ',openai', 'a,,b'])('refuses an empty entry in --providers "%s"', (raw) => {
      expect(usageError(['create', '--user', 'u1', `--providers=${raw}`])).toBe(
        `--providers takes a comma-separated list such as a,b, got "${raw}".`,
      );
    });

    it('leaves the checks of values (ranges, slugs, operation types) to keys-admin', () => {
      expect(command(['create', '--user', 'u1', '--operations', 'dance']).event.scopes).toEqual({
        operations: ['dance'],
      });
    });
  });

  describe('budgets', () => {
    it.each([
      ['25/month', { limit: 25, period: 'month' }],
      ['0.50/day', { limit: 0.5, period: 'day' }],
      ['0.000001/total', { limit: 0.000001, period: 'total' }],
      ['1000000/day', { limit: 1_000_000, period: 'day' }],
      ['none', 'none'],
    ])('reads --budget %s as limit/period', (raw, expected) => {
      expect(parseBudget(raw)).toEqual(expected);
    });

    it.each([
      '25',
      '25/week',
      '0/day',
      '-1/day',
      '0.1234567/day',
      '1000000.000001/day',
      '$25/month',
      '1e3/day',
      'month/25',
      '25/Month',
      '',
    ])('refuses --budget "%s"', (raw) => {
      expect(usageError(['create', '--user', 'u1', `--budget=${raw}`])).toBe(
        `--budget takes USD/PERIOD, USD more than 0 and at most 1000000 with up to 6 decimals, PERIOD one of day, month, total (25/month, 0.50/day), got "${raw}".`,
      );
    });

    it('takes the per-call hold with the budget, as an exact USD amount', () => {
      expect(command(['create', '--user', 'u1', '--budget', '5/day', '--hold', '0.10']).event).toEqual({
        action: 'create',
        userId: 'u1',
        budget: { limit: 5, period: 'day', perCallHold: 0.1 },
      });
      expect(command(['create', '--user', 'u1', '--budget', '5/day']).event.budget).toEqual({
        limit: 5,
        period: 'day',
      });
      expect(parseHold('0.000001')).toBe(0.000001);
      for (const raw of ['0', '0.1234567', 'abc', '-0.1']) {
        expect(usageError(['create', '--user', 'u1', '--budget', '5/day', `--hold=${raw}`])).toBe(
          `--hold takes a USD amount more than 0 with up to 6 decimals (0.10), got "${raw}".`,
        );
      }
    });

    it('refuses --hold without --budget: a budget is set as a whole', () => {
      const message =
        '--hold goes with --budget (a budget is set as a whole: --budget 25/month --hold 0.10).';

      expect(usageError(['create', '--user', 'u1', '--hold', '0.1'])).toBe(message);
      expect(usageError(['update', '--user', 'u1', '--key', 'key_abc', '--hold', '0.1'])).toBe(message);
    });

    it('clears a budget on update with --budget none (or --clear-budget), never on create', () => {
      const base = ['update', '--user', 'u1', '--key', 'key_abc'];
      const cleared = { action: 'update', userId: 'u1', keyId: 'key_abc', budget: null };

      expect(command([...base, '--budget', 'none']).event).toEqual(cleared);
      expect(command([...base, '--clear-budget']).event).toEqual(cleared);
      expect(usageError(['create', '--user', 'u1', '--budget', 'none'])).toBe(
        '--budget none clears a budget on update; omit --budget instead.',
      );
      expect(usageError([...base, '--budget', 'none', '--hold', '0.1'])).toBe(
        '--hold and --budget none contradict each other; give one.',
      );
      expect(usageError([...base, '--hold', '0.1', '--clear-budget'])).toBe(
        '--hold and --clear-budget contradict each other; give one.',
      );
    });

    it('takes --shards 1-64 on create and update, nothing else', () => {
      expect(command(['create', '--user', 'u1', '--shards', '16']).event).toEqual({
        action: 'create',
        userId: 'u1',
        shards: 16,
      });
      expect(command(['update', '--user', 'u1', '--key', 'key_abc', '--shards', '1']).event).toEqual({
        action: 'update',
        userId: 'u1',
        keyId: 'key_abc',
        shards: 1,
      });
      expect(command(['create', '--user', 'u1', '--shards', '64']).event.shards).toBe(64);
      for (const raw of ['0', '65', '1.5', '-2', 'many']) {
        expect(usageError(['create', '--user', 'u1', `--shards=${raw}`])).toBe(
          `--shards takes an integer from 1 to 64, got "${raw}".`,
        );
      }
    });

    it('leaves the hold against the limit to keys-admin', () => {
      expect(command(['create', '--user', 'u1', '--budget', '0.20/day', '--hold', '1']).event.budget).toEqual(
        {
          limit: 0.2,
          period: 'day',
          perCallHold: 1,
        },
      );
    });
  });

  describe('usage', () => {
    it("asks for all of the user's keys, one key, or one page", () => {
      expect(command(['usage', '--user', 'u1']).event).toEqual({ action: 'usage', userId: 'u1' });
      expect(command(['usage', '--user', 'u1', '--key', 'key_abc']).event).toEqual({
        action: 'usage',
        userId: 'u1',
        keyId: 'key_abc',
      });
      expect(command(['usage', '--user', 'u1', '--limit', '50', '--next-token', 'tok']).event).toEqual({
        action: 'usage',
        userId: 'u1',
        limit: 50,
        nextToken: 'tok',
      });
    });

    it('says in the usage text how long actions run and show progress', () => {
      expect(usage()).toContain(
        'usage reads every page (1000 keys a call) unless --key, --limit or --next-token',
      );
      expect(usage()).toContain('repeat the call until it is complete (at most 50 calls)');
      expect(usage()).toContain('  npm run keys -- usage --user u1');
    });
  });

  describe('update', () => {
    const base = ['update', '--user', 'u1', '--key', 'key_abc'];

    it('needs at least one change', () => {
      expect(usageError(base)).toBe(`update needs at least one change. update ${ACTION_FLAGS.update.usage}`);
    });

    it('turns each --clear-… switch into null for its field', () => {
      const parsed = command([...base, ...flagArgs(CLEARS)]);

      expect(parsed.event).toEqual({
        action: 'update',
        userId: 'u1',
        keyId: 'key_abc',
        name: null,
        expiresAt: null,
        rateLimit: null,
        quota: null,
        budget: null,
        scopes: null,
      });
    });

    it('sets some fields and clears others in one event', () => {
      expect(command([...base, '--quota', '20000/month', '--clear-rate-limit']).event).toEqual({
        action: 'update',
        userId: 'u1',
        keyId: 'key_abc',
        quota: { limit: 20_000, period: 'month' },
        rateLimit: null,
      });
    });

    it.each([
      ['name', 'clear-name'],
      ['expires', 'clear-expiry'],
      ['rate-limit', 'clear-rate-limit'],
      ['quota', 'clear-quota'],
      ['budget', 'clear-budget'],
      ['providers', 'clear-scopes'],
      ['models', 'clear-scopes'],
      ['operations', 'clear-scopes'],
    ] as const)('refuses --%s together with --%s', (setter, clear) => {
      expect(usageError([...base, ...flagArgs([setter, clear])])).toBe(
        `--${setter} and --${clear} contradict each other; give one.`,
      );
    });
  });

  it('lists every action with its flags, and where the CLI invokes, in the usage text', () => {
    const text = usage();

    expect(text.split('\n')[0]).toBe('Usage: npm run keys -- <action> [flags]');
    for (const action of ADMIN_ACTIONS) {
      expect(text).toMatch(
        new RegExp(`^  ${action} +${ACTION_FLAGS[action].usage.replace(/[[\]|.]/g, '\\$&')}$`, 'm'),
      );
    }
    expect(text).toContain(
      `(default http://127.0.0.1:\${LAMBDA_PORT:-${DEFAULT_LAMBDA_PORT}}, i.e. npm start)`,
    );
    expect(text).toContain(`(${STAGE_NAMES.join('|')})`);
  });
});
