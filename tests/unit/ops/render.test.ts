/** The ops CLI's readable output for keys-admin answers. */
import { describe, expect, it } from 'vitest';
import {
  budgetCell,
  budgetPeriodCell,
  instantCell,
  keysTable,
  quotaCell,
  quotaPeriodCell,
  rateCell,
  rateWindowCell,
  refusingCell,
  render,
  scopesCell,
  table,
  usageTable,
  usdCell,
  userTable,
} from '../../../ops/render.js';
import type { KeyMetadata, UserView } from '../../../shared/domain/keys/metadata.js';
import type { KeyUsage } from '../../../shared/domain/keys/usage.js';

/** Not a well-formed key, so the run's plaintext-key scan never flags it. */
const API_KEY = 'kg_test_not-a-real-key';

const key = (keyId: string, overrides: Partial<KeyMetadata> = {}): KeyMetadata => ({
  keyId,
  userId: 'u1',
  projectId: 'p1',
  projectBound: false,
  name: 'ci',
  status: 'active',
  start: 'kg_test_AbCd',
  createdAt: '2026-01-01T00:00:00.000Z',
  lastUsedAt: null,
  usageCount: 0,
  expiresAt: null,
  revokedAt: null,
  revokedReason: null,
  rateLimit: null,
  quota: null,
  budget: null,
  scopes: null,
  shards: 1,
  ...overrides,
});

const HEADER =
  'KEY_ID     NAME  STATUS  START         PROJECT  USAGE  LAST_USED  CREATED                   EXPIRES  RATE  QUOTA  BUDGET  SCOPES';
const row = (keyId: string) =>
  `${keyId}  ci    active  kg_test_AbCd  p1       0      -          2026-01-01T00:00:00.000Z  -        -     -      -       -`;

describe('ops CLI output', () => {
  it('aligns columns two spaces apart without trailing blanks', () => {
    expect(
      table(
        ['A', 'LONG'],
        [
          ['wide cell', 'x'],
          ['b', ''],
        ],
      ),
    ).toBe(['A          LONG', 'wide cell  x', 'b'].join('\n'));
  });

  it('prints absent values as "-"', () => {
    const user: UserView = {
      userId: 'u1',
      status: 'active',
      defaultProjectId: null,
      createdAt: '2026-01-01T00:00:00.000Z',
    };

    expect(userTable(user)).toBe(
      [
        'USER_ID  STATUS  DEFAULT_PROJECT  CREATED',
        'u1       active  -                2026-01-01T00:00:00.000Z',
      ].join('\n'),
    );
    expect(render('create-user', { ok: true, user })).toBe(userTable(user));
    expect(
      keysTable([
        key('key_one', {
          name: null,
          lastUsedAt: '2026-02-01T00:00:00.000Z',
          usageCount: 12,
          expiresAt: '2030-01-31T00:00:00Z',
        }),
      ]),
    ).toBe(
      [
        'KEY_ID   NAME  STATUS  START         PROJECT  USAGE  LAST_USED                 CREATED                   EXPIRES               RATE  QUOTA  BUDGET  SCOPES',
        'key_one  -     active  kg_test_AbCd  p1       12     2026-02-01T00:00:00.000Z  2026-01-01T00:00:00.000Z  2030-01-31T00:00:00Z  -     -      -       -',
      ].join('\n'),
    );
  });

  it('shows a created key once, under a header saying so, then its metadata', () => {
    expect(render('create', { ok: true, apiKey: API_KEY, key: key('key_new01') })).toBe(
      ['API key (shown only now; store it safely):', `  ${API_KEY}`, '', HEADER, row('key_new01')].join('\n'),
    );
  });

  it('lists keys, with the next page hint when there is one', () => {
    const keys = [key('key_one01'), key('key_two02')];
    const listed = [HEADER, row('key_one01'), row('key_two02')].join('\n');

    expect(render('list', { ok: true, keys, nextToken: 'tok123' })).toBe(
      `${listed}\n\nMore keys: add --next-token tok123`,
    );
    expect(render('list', { ok: true, keys, nextToken: null })).toBe(listed);
    expect(render('list', { ok: true, keys: [], nextToken: null })).toBe('(no keys)');
  });

  it('gives the next page hint for list only', () => {
    expect(render('get', { ok: true, key: key('key_one01'), nextToken: 'tok123' })).not.toContain(
      '--next-token',
    );
  });

  it('shows a rotation: the new key once, then the retired keys', () => {
    expect(
      render('rotate', {
        ok: true,
        apiKey: API_KEY,
        key: key('key_new01'),
        retired: [key('key_old01'), key('key_old02')],
      }),
    ).toBe(
      [
        'API key (shown only now; store it safely):',
        `  ${API_KEY}`,
        '',
        HEADER,
        row('key_new01'),
        '',
        'Retired (2):',
        HEADER,
        row('key_old01'),
        row('key_old02'),
      ].join('\n'),
    );
  });

  it('says so when a rotation retired nothing', () => {
    expect(render('rotate', { ok: true, apiKey: API_KEY, key: key('key_new01'), retired: [] })).toBe(
      [
        'API key (shown only now; store it safely):',
        `  ${API_KEY}`,
        '',
        HEADER,
        row('key_new01'),
        '',
        'Retired: none',
      ].join('\n'),
    );
  });

  it('shows how many keys a suspension stamped, and says to repeat it when it is not complete', () => {
    const user = {
      userId: 'u1',
      status: 'suspended' as const,
      defaultProjectId: null,
      createdAt: '2026-01-01T00:00:00.000Z',
    };

    const done = render('suspend-user', { ok: true, user, keysUpdated: 12, complete: true });
    const partial = render('suspend-user', { ok: true, user, keysUpdated: 3, complete: false });

    expect(done.split('\n').at(-1)).toBe('Keys updated: 12 (complete)');
    expect(partial.split('\n').at(-1)).toBe(
      'Keys updated: 3 (not complete: repeat the same command to finish)',
    );
  });

  it('marks a key bound to its project', () => {
    expect(keysTable([key('key_b01', { projectBound: true })])).toContain('p1 (bound)');
  });

  it('shows limits and scopes compactly: RATE limit/window, QUOTA used/limit period, the scope lists', () => {
    const limited = key('key_lim01', {
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 10_000, period: 'month', used: 12, resetsAt: '2026-02-01T00:00:00.000Z' },
      scopes: { providers: ['openai', 'anthropic'], models: ['gpt-4o*'], operations: ['chat'] },
    });

    const [header, line] = keysTable([limited]).split('\n');

    expect(header?.split(/ {2,}/).slice(-4)).toEqual(['RATE', 'QUOTA', 'BUDGET', 'SCOPES']);
    expect(line).toMatch(
      / {2}100\/60s {2}12\/10000 month {2}- {7}providers=openai,anthropic models=gpt-4o\* operations=chat$/,
    );
  });

  it('shows a budget as spent/limit per period and what remains, with the amount held when any', () => {
    const budgeted = key('key_bud01', {
      budget: {
        limit: 25,
        period: 'month',
        perCallHold: 0.5,
        spent: 1.25,
        held: 0,
        remaining: 23.75,
        resetsAt: '2026-02-01T00:00:00.000Z',
      },
    });

    const [header, line] = keysTable([budgeted]).split('\n');

    expect(header?.split(/ {2,}/).slice(-2)).toEqual(['BUDGET', 'SCOPES']);
    expect(line).toMatch(/ {2}\$1\.25\/\$25\.00 month, \$23\.75 left {2}-$/);
    expect(
      budgetCell({
        limit: 0.2,
        period: 'total',
        perCallHold: 0.2,
        spent: 0.123456,
        held: 0.05,
        remaining: 0.026544,
        resetsAt: null,
      }),
    ).toBe('$0.123456/$0.20 total, $0.026544 left ($0.05 held)');
    expect(budgetCell(null)).toBe('-');
  });

  it('writes USD with 2 to 6 decimals, as keys-admin counts micro-dollars', () => {
    expect([0, 0.1, 25, 0.000001, 1_000_000, -0.5].map(usdCell)).toEqual([
      '$0.00',
      '$0.10',
      '$25.00',
      '$0.000001',
      '$1000000.00',
      '-$0.50',
    ]);
  });

  it('formats each limit cell, "-" when the key has none', () => {
    expect(rateCell({ limit: 5, windowSeconds: 86_400 })).toBe('5/86400s');
    expect(quotaCell({ limit: 3, period: 'total', used: 0, resetsAt: null })).toBe('0/3 total');
    expect(scopesCell({ operations: ['embedding', 'chat'] })).toBe('operations=embedding,chat');
    expect([rateCell(null), quotaCell(null), scopesCell(null)]).toEqual(['-', '-', '-']);
  });

  describe('usage', () => {
    const user: UserView = {
      userId: 'u1',
      status: 'active',
      defaultProjectId: null,
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    const usage = (keyId: string, overrides: Partial<KeyUsage> = {}): KeyUsage => ({
      keyId,
      name: 'ci',
      status: 'active',
      start: 'kg_test_AbCd',
      projectId: 'p1',
      usageCount: 0,
      lastUsedAt: null,
      rateLimit: null,
      quota: null,
      budget: null,
      refusing: null,
      shards: 1,
      ...overrides,
    });
    const limited = usage('key_lim01', {
      usageCount: 157,
      lastUsedAt: '2026-11-30T12:00:05.123Z',
      rateLimit: {
        limit: 100,
        windowSeconds: 60,
        used: 100,
        remaining: 0,
        windowStart: '2026-11-30T12:00:00.000Z',
        resetsAt: '2026-11-30T12:01:00.000Z',
      },
      quota: { limit: 10_000, period: 'month', used: 120, resetsAt: '2026-12-01T00:00:00.000Z' },
      refusing: { reason: 'rate_limited', until: '2026-11-30T12:01:00.000Z' },
    });

    it('prints the user, then one row per key: its counters, window, quota and refusal', () => {
      const revoked = usage('key_old02', {
        status: 'revoked',
        quota: { limit: 5, period: 'total', used: 5, resetsAt: null },
        refusing: { reason: 'revoked', until: null },
      });

      expect(render('usage', { ok: true, user, usage: [limited, revoked], nextToken: null })).toBe(
        [
          userTable(user),
          '',
          'KEY_ID     NAME  STATUS   START         USAGE  LAST_USED                 RATE_WINDOW                                QUOTA                                        BUDGET  REFUSING',
          'key_lim01  ci    active   kg_test_AbCd  157    2026-11-30T12:00:05.123Z  100/100 (60s) resets 2026-11-30T12:01:00Z  120/10000 month resets 2026-12-01T00:00:00Z  -       rate_limited until 2026-11-30T12:01:00Z',
          'key_old02  ci    revoked  kg_test_AbCd  0      -                         -                                          5/5 total                                    -       revoked',
        ].join('\n'),
      );
    });

    it('says when the user has no keys, and gives the next page hint', () => {
      expect(usageTable([])).toBe('(no keys)');
      expect(render('usage', { ok: true, user, usage: [limited], nextToken: 'tok9' })).toMatch(
        /\n\nMore keys: add --next-token tok9$/,
      );
    });

    it('formats each usage cell, "-" when there is nothing to show, instants without zero milliseconds', () => {
      expect(instantCell('2026-12-01T00:00:00.000Z')).toBe('2026-12-01T00:00:00Z');
      expect(instantCell('2026-12-01T00:00:00.250Z')).toBe('2026-12-01T00:00:00.250Z');
      expect(rateWindowCell(limited.rateLimit)).toBe('100/100 (60s) resets 2026-11-30T12:01:00Z');
      expect(quotaPeriodCell(limited.quota)).toBe(`${quotaCell(limited.quota)} resets 2026-12-01T00:00:00Z`);
      expect(quotaPeriodCell({ limit: 3, period: 'total', used: 1, resetsAt: null })).toBe('1/3 total');
      expect(refusingCell({ reason: 'quota_exceeded', until: null })).toBe('quota_exceeded');
      expect(refusingCell({ reason: 'budget_exceeded', until: '2026-12-01T00:00:00.000Z' })).toBe(
        'budget_exceeded until 2026-12-01T00:00:00Z',
      );
      expect(
        budgetPeriodCell({
          limit: 5,
          period: 'day',
          perCallHold: 0.1,
          spent: 4.95,
          held: 0.1,
          remaining: -0.05,
          resetsAt: '2026-12-01T00:00:00.000Z',
        }),
      ).toBe('$4.95/$5.00 day, -$0.05 left ($0.10 held), $0.10/call resets 2026-12-01T00:00:00Z');
      expect(
        budgetPeriodCell({
          limit: 1,
          period: 'total',
          perCallHold: 0.5,
          spent: 0,
          held: 0,
          remaining: 1,
          resetsAt: null,
        }),
      ).toBe('$0.00/$1.00 total, $1.00 left, $0.50/call');
      expect([
        rateWindowCell(null),
        quotaPeriodCell(null),
        budgetPeriodCell(null),
        refusingCell(null),
      ]).toEqual(['-', '-', '-', '-']);
    });
  });
});
