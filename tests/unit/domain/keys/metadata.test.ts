/** Key metadata's limits and scopes (SPEC §6): what ops see of a key's stored limit attributes. */
import { describe, expect, it } from 'vitest';
import { micros } from '../../../../shared/domain/budgets/money.js';
import { toKeyMetadata } from '../../../../shared/domain/keys/metadata.js';
import { budgetItemOf } from '../../../support/budgets.js';
import { apiKeyItem } from '../../../support/key-items.js';

const NOW = new Date('2026-03-15T12:34:56.000Z');

const item = apiKeyItem;

describe('key metadata: limits and scopes', () => {
  it('answers null for a key without limits or scopes', () => {
    expect(toKeyMetadata(item(), NOW)).toMatchObject({
      rateLimit: null,
      quota: null,
      budget: null,
      scopes: null,
    });
  });

  it('shows the budget as the budget item the key names says, in USD', () => {
    const budget = {
      ...budgetItemOf({ limit: micros(25_000_000), hold: micros(100_000), period: 'month', now: NOW }),
      spent: 1_250_000,
      remaining: 23_750_000,
    };
    const key = item({
      budget_id: budget.budget_id,
      budget_limit: 25_000_000,
      budget_period: 'month',
      budget_hold: 100_000,
    });

    expect(toKeyMetadata(key, NOW, budget).budget).toEqual({
      limit: 25,
      period: 'month',
      perCallHold: 0.1,
      spent: 1.25,
      held: 0,
      remaining: 23.75,
      resetsAt: '2026-04-01T00:00:00.000Z',
    });
    // Another key's budget item, or none read: no view.
    expect(toKeyMetadata(item({ budget_id: 'bud_other' }), NOW, budget).budget).toBeNull();
    expect(toKeyMetadata(key, NOW).budget).toBeNull();
  });

  it('shows the rate limit, never its window counter', () => {
    const key = toKeyMetadata(
      item({ rate_limit: 100, rate_window: 60, rate_window_start: 1, rate_count: 7 }),
      NOW,
    );

    expect(key.rateLimit).toEqual({ limit: 100, windowSeconds: 60 });
  });

  it.each([
    ['day', '2026-03-15', '2026-03-16T00:00:00.000Z'],
    ['month', '2026-03', '2026-04-01T00:00:00.000Z'],
  ] as const)(
    'counts a %s quota used in the current period, and when it resets',
    (period, start, resetsAt) => {
      const key = toKeyMetadata(
        item({ quota_limit: 1000, quota_period: period, quota_period_start: start, quota_used: 12 }),
        NOW,
      );

      expect(key.quota).toEqual({ limit: 1000, period, used: 12, resetsAt });
    },
  );

  it.each([
    ['day', '2026-03-14', '2026-03-16T00:00:00.000Z'],
    ['month', '2026-02', '2026-04-01T00:00:00.000Z'],
  ] as const)('shows 0 used when the counted %s is over', (period, start, resetsAt) => {
    const key = toKeyMetadata(
      item({ quota_limit: 1000, quota_period: period, quota_period_start: start, quota_used: 999 }),
      NOW,
    );

    expect(key.quota).toEqual({ limit: 1000, period, used: 0, resetsAt });
  });

  it('shows 0 used before the first call, and a total quota never resets', () => {
    const unused = toKeyMetadata(item({ quota_limit: 5, quota_period: 'month' }), NOW);
    const total = toKeyMetadata(
      item({ quota_limit: 5, quota_period: 'total', quota_period_start: 'total', quota_used: 4 }),
      NOW,
    );

    expect(unused.quota).toEqual({
      limit: 5,
      period: 'month',
      used: 0,
      resetsAt: '2026-04-01T00:00:00.000Z',
    });
    expect(total.quota).toEqual({ limit: 5, period: 'total', used: 4, resetsAt: null });
  });

  it('takes a period counted by a clock running ahead as current, as verification does', () => {
    const key = toKeyMetadata(
      item({ quota_limit: 10, quota_period: 'day', quota_period_start: '2026-03-16', quota_used: 3 }),
      NOW,
    );

    expect(key.quota).toEqual({ limit: 10, period: 'day', used: 3, resetsAt: '2026-03-17T00:00:00.000Z' });
  });

  it('shows the allow-lists the key has, in a fixed order', () => {
    const key = toKeyMetadata(item({ scopes: { operations: ['chat'], providers: ['openai'] } }), NOW);

    expect(key.scopes).toEqual({ providers: ['openai'], operations: ['chat'] });
    expect(Object.keys(key.scopes ?? {})).toEqual(['providers', 'operations']);
  });
});
