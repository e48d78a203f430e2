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
    const clears = { name: null, expiresAt: null, rateLimit: null, quota: null, scopes: null };

    expect(adminEventSchema.parse(update(clears))).toEqual(update(clears));
  });

  it('needs at least one field to change', () => {
    expect(problems(update({}))).toEqual([
      {
        path: '',
        message: 'update changes at least one of name, expiresAt, rateLimit, quota, scopes (null clears it)',
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
