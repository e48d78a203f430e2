/** keys-admin events: a key's limits and scopes on `create`, and `update` (SPEC §6). */
import { describe, expect, it } from 'vitest';
import {
  ADMIN_ACTIONS,
  adminEventSchema,
  MAX_SCOPE_ENTRIES,
  MAX_SCOPES_BYTES,
} from '../../../../shared/domain/admin/events.js';
import { MAX_LIMIT, MAX_WINDOW_SECONDS } from '../../../../shared/domain/keys/limits.js';
import { issuesToDetails } from '../../../../shared/domain/validation.js';

const create = (fields: Record<string, unknown>) => ({ action: 'create', userId: 'u1', ...fields });
const update = (fields: Record<string, unknown>) => ({
  action: 'update',
  userId: 'u1',
  keyId: 'key_abc',
  ...fields,
});

/** The `{path, message}` details keys-admin answers for an invalid event, or [] when it is valid. */
function problems(event: unknown): { path: string; message: string }[] {
  const parsed = adminEventSchema.safeParse(event, { reportInput: true });
  return parsed.success ? [] : issuesToDetails(parsed.error.issues);
}
const pathsOf = (event: unknown) => problems(event).map((problem) => problem.path);

const LIMITS = {
  rateLimit: { limit: 100, windowSeconds: 60 },
  quota: { limit: 10_000, period: 'month' },
  scopes: {
    providers: ['openai', 'anthropic'],
    models: ['gpt-4o*', 'claude-3-5-sonnet'],
    operations: ['chat'],
  },
};

describe('create with limits and scopes', () => {
  it('accepts a rate limit, a quota and scopes, and keeps them as given', () => {
    expect(adminEventSchema.parse(create(LIMITS))).toEqual(create(LIMITS));
  });

  it.each([
    [
      'the smallest values',
      { rateLimit: { limit: 1, windowSeconds: 1 }, quota: { limit: 1, period: 'day' } },
    ],
    [
      'the largest values',
      {
        rateLimit: { limit: MAX_LIMIT, windowSeconds: MAX_WINDOW_SECONDS },
        quota: { limit: MAX_LIMIT, period: 'total' },
      },
    ],
    ['one scope list alone', { scopes: { operations: ['embedding', 'code'] } }],
    ['a model entry that is only a prefix', { scopes: { models: ['*'] } }],
    ['a model of 128 chars', { scopes: { models: ['m'.repeat(128)] } }],
    [
      'providers as the request allows them',
      { scopes: { providers: ['ollama', 'azure.openai', 'my_llm-2'] } },
    ],
  ])('accepts %s', (_case, fields) => {
    expect(problems(create(fields))).toEqual([]);
  });

  it.each([
    ['a limit of 0', { rateLimit: { limit: 0, windowSeconds: 60 } }, 'rateLimit.limit'],
    [
      'a limit over the maximum',
      { rateLimit: { limit: MAX_LIMIT + 1, windowSeconds: 60 } },
      'rateLimit.limit',
    ],
    ['a fractional limit', { quota: { limit: 1.5, period: 'day' } }, 'quota.limit'],
    ['a limit as a string', { quota: { limit: '10', period: 'day' } }, 'quota.limit'],
    ['a window of 0 seconds', { rateLimit: { limit: 1, windowSeconds: 0 } }, 'rateLimit.windowSeconds'],
    ['a window over a day', { rateLimit: { limit: 1, windowSeconds: 86_401 } }, 'rateLimit.windowSeconds'],
    ['a rate limit without its window', { rateLimit: { limit: 1 } }, 'rateLimit.windowSeconds'],
    ['an unknown quota period', { quota: { limit: 1, period: 'week' } }, 'quota.period'],
    [
      'an unknown field in a limit',
      { rateLimit: { limit: 1, windowSeconds: 1, burst: 2 } },
      'rateLimit.burst',
    ],
    ['a null limit (omit it instead)', { rateLimit: null }, 'rateLimit'],
    ['scopes without a list', { scopes: {} }, 'scopes'],
    ['null scopes', { scopes: null }, 'scopes'],
    ['an empty list', { scopes: { providers: [] } }, 'scopes.providers'],
    ['an unknown scope', { scopes: { regions: ['eu'] } }, 'scopes.regions'],
    ['an upper-case provider', { scopes: { providers: ['OpenAI'] } }, 'scopes.providers.0'],
    ['a provider with a space', { scopes: { providers: ['open ai'] } }, 'scopes.providers.0'],
    ['an empty model', { scopes: { models: [''] } }, 'scopes.models.0'],
    ['a model over 128 chars', { scopes: { models: ['m'.repeat(129)] } }, 'scopes.models.0'],
    ['a "*" inside a model', { scopes: { models: ['gpt-*-mini'] } }, 'scopes.models.0'],
    ['a control character in a model', { scopes: { models: ['gpt\u00004o'] } }, 'scopes.models.0'],
    ['an unknown operation', { scopes: { operations: ['dance'] } }, 'scopes.operations.0'],
    ['a repeated entry', { scopes: { providers: ['openai', 'openai'] } }, 'scopes.providers'],
    [
      `more than ${MAX_SCOPE_ENTRIES} entries`,
      { scopes: { providers: Array.from({ length: MAX_SCOPE_ENTRIES + 1 }, (_, index) => `p${index}`) } },
      'scopes.providers',
    ],
  ])('refuses %s, naming the field', (_case, fields, path) => {
    expect(pathsOf(create(fields))).toContain(path);
  });

  it(`refuses scopes larger than ${MAX_SCOPES_BYTES} bytes as JSON, saying why`, () => {
    const models = Array.from({ length: 12 }, (_, index) => `a-rather-long-model-name-${index}`);

    expect(Buffer.byteLength(JSON.stringify({ models }))).toBeGreaterThan(MAX_SCOPES_BYTES);
    expect(problems(create({ scopes: { models } }))).toEqual([
      { path: 'scopes', message: expect.stringContaining(`at most ${MAX_SCOPES_BYTES} bytes`) },
    ]);
  });
});

describe('update', () => {
  it('is a keys-admin action', () => {
    expect(ADMIN_ACTIONS).toContain('update');
  });

  it.each([
    ['name', 'ci-2'],
    ['expiresAt', '2030-01-31T00:00:00Z'],
    ['rateLimit', LIMITS.rateLimit],
    ['quota', LIMITS.quota],
    ['scopes', LIMITS.scopes],
  ])('changes %s alone', (field, value) => {
    expect(adminEventSchema.parse(update({ [field]: value }))).toEqual(update({ [field]: value }));
  });

  it('takes null for every field, to clear it', () => {
    const clears = { name: null, expiresAt: null, rateLimit: null, quota: null, budget: null, scopes: null };

    expect(adminEventSchema.parse(update(clears))).toEqual(update(clears));
  });

  it('needs at least one field to change', () => {
    expect(problems(update({}))).toEqual([
      {
        path: '',
        message:
          'update changes at least one of name, expiresAt, rateLimit, quota, budget, scopes, shards (null clears it; shards is never null)',
      },
    ]);
  });

  it.each([
    ['no keyId', { action: 'update', userId: 'u1', name: 'x' }, 'keyId'],
    ['an unknown field', update({ name: 'x', projectId: 'p2' }), 'projectId'],
    ['an empty name', update({ name: '' }), 'name'],
    ['an expiresAt that is not ISO 8601', update({ expiresAt: 'tomorrow' }), 'expiresAt'],
    ['an invalid rate limit', update({ rateLimit: { limit: 0, windowSeconds: 60 } }), 'rateLimit.limit'],
    ['a quota without its period', update({ quota: { limit: 5 } }), 'quota.period'],
    ['empty scopes', update({ scopes: {} }), 'scopes'],
    ['a scope list of null', update({ scopes: { providers: null } }), 'scopes.providers'],
  ])('refuses %s', (_case, event, path) => {
    expect(pathsOf(event)).toContain(path);
  });
});

describe('budget on create and update', () => {
  it.each([
    ['whole dollars', { limit: 25, period: 'month' }, { limit: 25_000_000, period: 'month' }],
    [
      'a hold of its own',
      { limit: 5, period: 'day', perCallHold: 0.1 },
      { limit: 5_000_000, period: 'day', perCallHold: 100_000 },
    ],
    ['one micro-dollar', { limit: 0.000001, period: 'total' }, { limit: 1, period: 'total' }],
    ['the largest limit', { limit: 1_000_000, period: 'day' }, { limit: 1_000_000_000_000, period: 'day' }],
    [
      'a hold equal to the limit',
      { limit: 0.2, period: 'day', perCallHold: 0.2 },
      { limit: 200_000, period: 'day', perCallHold: 200_000 },
    ],
    [
      'floats that are exact in micro-dollars',
      { limit: 0.3, period: 'month', perCallHold: 0.000003 },
      { limit: 300_000, period: 'month', perCallHold: 3 },
    ],
  ])('reads %s as micro-dollars, exactly', (_case, budget, micros) => {
    expect(adminEventSchema.parse(create({ budget }))).toEqual(create({ budget: micros }));
    expect(adminEventSchema.parse(update({ budget }))).toEqual(update({ budget: micros }));
  });

  it.each([
    ['a limit of 0', { limit: 0, period: 'day' }, 'budget.limit', 'more than 0'],
    ['a negative limit', { limit: -5, period: 'day' }, 'budget.limit', 'more than 0'],
    ['a limit over 1,000,000', { limit: 1_000_000.01, period: 'day' }, 'budget.limit', 'at most 1000000'],
    ['a limit of 7 decimals', { limit: 0.1234567, period: 'day' }, 'budget.limit', 'at most 6 decimals'],
    ['a limit as a string', { limit: '25', period: 'day' }, 'budget.limit', 'expected number'],
    ['no period', { limit: 25 }, 'budget.period', ''],
    ['an unknown period', { limit: 25, period: 'week' }, 'budget.period', ''],
    ['a hold of 0', { limit: 25, period: 'day', perCallHold: 0 }, 'budget.perCallHold', 'more than 0'],
    [
      'a hold of 7 decimals',
      { limit: 25, period: 'day', perCallHold: 0.0000001 },
      'budget.perCallHold',
      'at most 6 decimals',
    ],
    [
      'a hold above the limit',
      { limit: 0.2, period: 'day', perCallHold: 0.21 },
      'budget.perCallHold',
      'at most the limit',
    ],
    ['an unknown field', { limit: 25, period: 'day', currency: 'EUR' }, 'budget.currency', 'unknown field'],
  ])('refuses %s, naming the field and saying why', (_case, budget, path, why) => {
    for (const event of [create({ budget }), update({ budget })]) {
      expect(problems(event)).toEqual([{ path, message: expect.stringContaining(why) }]);
    }
  });

  it('clears a budget on update with null; create omits it instead', () => {
    expect(adminEventSchema.parse(update({ budget: null }))).toEqual(update({ budget: null }));
    expect(pathsOf(create({ budget: null }))).toEqual(['budget']);
  });
});

describe('usage', () => {
  const usage = (fields: Record<string, unknown> = {}) => ({ action: 'usage', userId: 'u1', ...fields });

  it('is a keys-admin action', () => {
    expect(ADMIN_ACTIONS).toContain('usage');
  });

  it.each([
    ['a user alone', usage()],
    ['one key', usage({ keyId: 'key_abc' })],
    ['a page', usage({ limit: 1000, nextToken: 'tok' })],
  ])('takes %s', (_case, event) => {
    expect(adminEventSchema.parse(event)).toEqual(event);
  });

  it.each([
    ['a limit of 0', usage({ limit: 0 }), 'limit'],
    ['a limit over 1000', usage({ limit: 1001 }), 'limit'],
    ['an empty nextToken', usage({ nextToken: '' }), 'nextToken'],
    ['a malformed keyId', usage({ keyId: 'kg_test_abc' }), 'keyId'],
    ['an unknown field', usage({ since: '2026-01-01' }), 'since'],
  ])('refuses %s, naming the field', (_case, event, path) => {
    expect(pathsOf(event)).toContain(path);
  });

  it('refuses paging fields together with keyId, which names one key', () => {
    expect(problems(usage({ keyId: 'key_abc', limit: 10 }))).toEqual([
      { path: '', message: expect.stringContaining('keyId names one key') },
    ]);
    expect(pathsOf(usage({ keyId: 'key_abc', nextToken: 'tok' }))).toEqual(['']);
  });
});
