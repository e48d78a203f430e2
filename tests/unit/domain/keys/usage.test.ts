/**
 * A key's usage as keys-admin `usage` shows it: the rate window that counts at `now` (the
 * stored one, or the clock's when the stored one is over), the quota period, and why the next
 * call would be refused — in the authorizer's order, until when.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BudgetItem } from '../../../../shared/domain/budgets/model.js';
import { micros } from '../../../../shared/domain/budgets/money.js';
import { windowStartOf } from '../../../../shared/domain/keys/limits.js';
import type { ApiKeyItem, QuotaPeriod } from '../../../../shared/domain/keys/model.js';
import { toKeyUsage } from '../../../../shared/domain/keys/usage.js';
import { budgetItemOf } from '../../../support/budgets.js';
import { apiKeyItem } from '../../../support/key-items.js';

const NOW = new Date('2026-11-30T12:00:10.000Z');
/** Epoch seconds of the 60-second window containing NOW (12:00:00). */
const WINDOW = windowStartOf(NOW, 60);
const ACTIVE = { status: 'active' } as const;
const SUSPENDED = { status: 'suspended' } as const;

const item = (overrides: Partial<ApiKeyItem> = {}): ApiKeyItem =>
  apiKeyItem({ name: 'ci', last_used_at: '2026-11-30T12:00:05.000Z', usage_count: 1234, ...overrides });

const rate = (count: number, windowStart = WINDOW, limit = 100): Partial<ApiKeyItem> => ({
  rate_limit: limit,
  rate_window: 60,
  rate_window_start: windowStart,
  rate_count: count,
});

const quota = (used: number, period: QuotaPeriod = 'month', limit = 10_000): Partial<ApiKeyItem> => ({
  quota_limit: limit,
  quota_period: period,
  quota_period_start: period === 'total' ? 'total' : period === 'day' ? '2026-11-30' : '2026-11',
  quota_used: used,
});

describe('key usage', () => {
  it('shows the key and its counters, no limits and no refusal for a plain key, never the hash', () => {
    const usage = toKeyUsage(item(), ACTIVE, NOW);

    expect(usage).toEqual({
      keyId: 'key_abc',
      name: 'ci',
      status: 'active',
      start: 'kg_test_AbCd',
      projectId: 'p1',
      usageCount: 1234,
      lastUsedAt: '2026-11-30T12:00:05.000Z',
      rateLimit: null,
      quota: null,
      budget: null,
      refusing: null,
      shards: 1,
    });
    expect(JSON.stringify(usage)).not.toContain('h'.repeat(64));
  });

  describe('the rate window', () => {
    it('is the stored one while it is current: used, remaining and when it resets', () => {
      expect(toKeyUsage(item(rate(37)), ACTIVE, NOW).rateLimit).toEqual({
        limit: 100,
        windowSeconds: 60,
        used: 37,
        remaining: 63,
        windowStart: '2026-11-30T12:00:00.000Z',
        resetsAt: '2026-11-30T12:01:00.000Z',
      });
    });

    it("is the clock's, with nothing used, once the stored one is over", () => {
      expect(toKeyUsage(item(rate(100, WINDOW - 60)), ACTIVE, NOW)).toMatchObject({
        rateLimit: {
          used: 0,
          remaining: 100,
          windowStart: '2026-11-30T12:00:00.000Z',
          resetsAt: '2026-11-30T12:01:00.000Z',
        },
        refusing: null,
      });
    });

    it("is the clock's, with nothing used, before the key's first call", () => {
      const { rate_window_start: _, rate_count: __, ...limitOnly } = rate(0);

      expect(toKeyUsage(item(limitOnly), ACTIVE, NOW).rateLimit).toMatchObject({
        used: 0,
        remaining: 100,
        windowStart: '2026-11-30T12:00:00.000Z',
      });
    });

    it('is the stored one when a verifier whose clock runs ahead started it, as verification takes it', () => {
      expect(toKeyUsage(item(rate(5, WINDOW + 60)), ACTIVE, NOW).rateLimit).toMatchObject({
        used: 5,
        remaining: 95,
        windowStart: '2026-11-30T12:01:00.000Z',
        resetsAt: '2026-11-30T12:02:00.000Z',
      });
    });

    it('has none left, and refuses until it resets, when it is spent', () => {
      const usage = toKeyUsage(item(rate(3, WINDOW, 3)), ACTIVE, NOW);

      expect(usage.rateLimit).toMatchObject({ limit: 3, used: 3, remaining: 0 });
      expect(usage.refusing).toEqual({ reason: 'rate_limited', until: '2026-11-30T12:01:00.000Z' });
    });

    it('shows the count as stored when a lowered limit is below it, with none remaining', () => {
      expect(toKeyUsage(item(rate(8, WINDOW, 5)), ACTIVE, NOW).rateLimit).toMatchObject({
        limit: 5,
        used: 8,
        remaining: 0,
      });
    });
  });

  describe('the quota', () => {
    it('shows the current period as the key metadata does', () => {
      expect(toKeyUsage(item(quota(120)), ACTIVE, NOW).quota).toEqual({
        limit: 10_000,
        period: 'month',
        used: 120,
        resetsAt: '2026-12-01T00:00:00.000Z',
      });
    });

    it.each([
      ['day', '2026-12-01T00:00:00.000Z'],
      ['month', '2026-12-01T00:00:00.000Z'],
      ['total', null],
    ] as const)('refuses a spent %s quota until the period ends (never, for total)', (period, until) => {
      expect(toKeyUsage(item(quota(10, period, 10)), ACTIVE, NOW).refusing).toEqual({
        reason: 'quota_exceeded',
        until,
      });
    });

    it('counts nothing of a period that is over', () => {
      const usage = toKeyUsage(
        item({ ...quota(10, 'day', 10), quota_period_start: '2026-11-29' }),
        ACTIVE,
        NOW,
      );

      expect(usage.quota).toMatchObject({ used: 0 });
      expect(usage.refusing).toBeNull();
    });
  });

  describe('refusing, in the order the authorizer refuses', () => {
    const spent = { ...rate(100), ...quota(10_000) };
    const expired = { expires_at: '2026-11-30T12:00:00.000Z' };
    const revoked = { status: 'revoked' as const, revoked_at: '2026-11-01T00:00:00.000Z' };

    it.each([
      [
        'revoked before everything',
        { ...revoked, user_suspended: true, ...expired, ...spent },
        SUSPENDED,
        'revoked',
      ],
      [
        'suspended (stamped on the key) before expired',
        { user_suspended: true, ...expired, ...spent },
        ACTIVE,
        'suspended',
      ],
      [
        "suspended (the user's status, not stamped yet) before expired",
        { ...expired, ...spent },
        SUSPENDED,
        'suspended',
      ],
      ['expired before a spent limit', { ...expired, ...spent }, ACTIVE, 'expired'],
    ] as const)('%s, with no end', (_case, overrides, user, reason) => {
      expect(toKeyUsage(item(overrides), user, NOW).refusing).toEqual({ reason, until: null });
    });

    it('a spent quota before a spent rate window', () => {
      expect(toKeyUsage(item(spent), ACTIVE, NOW).refusing).toEqual({
        reason: 'quota_exceeded',
        until: '2026-12-01T00:00:00.000Z',
      });
    });

    it('shows an expired key as expired, and refuses nothing before the expiry', () => {
      const later = { expires_at: '2026-11-30T12:00:11.000Z' };

      expect(toKeyUsage(item(expired), ACTIVE, NOW).status).toBe('expired');
      expect(toKeyUsage(item(later), ACTIVE, NOW)).toMatchObject({ status: 'active', refusing: null });
    });
  });

  describe('the budget', () => {
    /** A $1 daily budget holding $0.25 per call, with `spent` and `held` micro-dollars this period. */
    const budget = (spent: number, held = 0, overrides: Partial<BudgetItem> = {}): BudgetItem => ({
      ...budgetItemOf({ limit: micros(1_000_000), hold: micros(250_000), period: 'day', now: NOW }),
      spent,
      held,
      unheld: 1_000_000 - held,
      remaining: 1_000_000 - spent - held,
      ...(held > 0 ? { holds: { req_1: { a: held, u: NOW.getTime() + 60_000 } } } : {}),
      ...overrides,
    });
    const budgeted = (item: BudgetItem, overrides: Partial<ApiKeyItem> = {}) =>
      apiKeyItem({
        budget_id: item.budget_id,
        budget_limit: item.budget_limit,
        budget_period: item.budget_period,
        budget_hold: item.per_call_hold,
        ...overrides,
      });

    it('shows spent, held and remaining this period, and refuses nothing while a hold fits', () => {
      const item = budget(500_000, 250_000);

      expect(toKeyUsage(budgeted(item), ACTIVE, NOW, item)).toMatchObject({
        budget: {
          limit: 1,
          period: 'day',
          perCallHold: 0.25,
          spent: 0.5,
          held: 0.25,
          remaining: 0.25,
          resetsAt: '2026-12-01T00:00:00.000Z',
        },
        refusing: null,
      });
    });

    it.each([
      ['less remaining than one hold', budget(800_000)],
      ['open holds taking what remains', budget(0, 800_000)],
      ['an overspend blocking its period', budget(100_000, 0, { blocked_period: '2026-11-30' })],
    ])('refuses with budget_exceeded until the period ends: %s', (_case, item) => {
      expect(toKeyUsage(budgeted(item), ACTIVE, NOW, item).refusing).toEqual({
        reason: 'budget_exceeded',
        until: '2026-12-01T00:00:00.000Z',
      });
    });

    it('refuses a spent total budget for good, and gives back holds past their time as a hold would', () => {
      const total = budget(900_000, 0, { budget_period: 'total', period_start: 'total' });
      const expired = budget(0, 800_000, { holds: { req_1: { a: 800_000, u: NOW.getTime() - 1 } } });

      expect(toKeyUsage(budgeted(total), ACTIVE, NOW, total).refusing).toEqual({
        reason: 'budget_exceeded',
        until: null,
      });
      expect(toKeyUsage(budgeted(expired), ACTIVE, NOW, expired)).toMatchObject({
        budget: { held: 0, remaining: 1 },
        refusing: null,
      });
    });

    it('counts a new period from nothing, and lifts the block of the one before', () => {
      const yesterday = budget(1_000_000, 0, { period_start: '2026-11-29', blocked_period: '2026-11-29' });

      expect(toKeyUsage(budgeted(yesterday), ACTIVE, NOW, yesterday)).toMatchObject({
        budget: { spent: 0, remaining: 1 },
        refusing: null,
      });
    });

    it('names the key’s own refusals and spent limits first', () => {
      const item = budget(1_000_000);

      expect(toKeyUsage(budgeted(item, { status: 'revoked' }), ACTIVE, NOW, item).refusing).toEqual({
        reason: 'revoked',
        until: null,
      });
      expect(toKeyUsage(budgeted(item, quota(10_000)), ACTIVE, NOW, item).refusing).toMatchObject({
        reason: 'quota_exceeded',
      });
    });

    it('shows no budget for a budget item the key does not name', () => {
      const item = budget(1_000_000);

      expect(toKeyUsage(apiKeyItem(), ACTIVE, NOW, item)).toMatchObject({
        budget: null,
        refusing: null,
      });
    });
  });

  it('agrees with itself for any stored state: a limit refuses exactly when its view has none left', () => {
    const windows = [1, 60, 3600, 86_400];
    fc.assert(
      fc.property(
        fc.record({
          now: fc.integer({ min: Date.parse('2026-01-01'), max: Date.parse('2027-01-01') }),
          windowSeconds: fc.constantFrom(...windows),
          /** The stored window, in windows from the clock's (negative: over; positive: ahead). */
          windowShift: fc.integer({ min: -2, max: 1 }),
          rateLimit: fc.integer({ min: 1, max: 5 }),
          rateCount: fc.integer({ min: 0, max: 7 }),
          withQuota: fc.boolean(),
          quotaLimit: fc.integer({ min: 1, max: 5 }),
          quotaUsed: fc.integer({ min: 0, max: 7 }),
          period: fc.constantFrom<QuotaPeriod>('day', 'month', 'total'),
        }),
        (state) => {
          const now = new Date(state.now);
          const stored = windowStartOf(now, state.windowSeconds) + state.windowShift * state.windowSeconds;
          const key = item({
            rate_limit: state.rateLimit,
            rate_window: state.windowSeconds,
            rate_window_start: stored,
            rate_count: state.rateCount,
            ...(state.withQuota ? quota(state.quotaUsed, state.period, state.quotaLimit) : {}),
          });

          const { rateLimit, quota: quotaView, refusing } = toKeyUsage(key, ACTIVE, now);
          if (!rateLimit) throw new Error('a rate-limited key shows its window');
          const quotaSpent = quotaView !== null && quotaView.used >= quotaView.limit;

          expect(Date.parse(rateLimit.resetsAt) - Date.parse(rateLimit.windowStart)).toBe(
            state.windowSeconds * 1000,
          );
          expect(Date.parse(rateLimit.resetsAt)).toBeGreaterThan(now.getTime());
          expect(rateLimit.used).toBe(state.windowShift >= 0 ? state.rateCount : 0);
          expect(rateLimit.remaining).toBe(Math.max(0, rateLimit.limit - rateLimit.used));
          if (quotaSpent) {
            expect(refusing).toEqual({ reason: 'quota_exceeded', until: quotaView.resetsAt });
          } else if (rateLimit.remaining === 0) {
            expect(refusing).toEqual({ reason: 'rate_limited', until: rateLimit.resetsAt });
          } else {
            expect(refusing).toBeNull();
          }
        },
      ),
    );
  });
});
