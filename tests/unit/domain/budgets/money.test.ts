/**
 * Money in integer micro-dollars (SPEC §5b): known answers for reading a limit, writing a
 * header and counting a payment, so a float never adds up a budget.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatUsd,
  MAX_BUDGET_MICROS,
  type Micros,
  micros,
  parseUsd,
  paymentMicros,
  toUsd,
} from '../../../../shared/domain/budgets/money.js';

describe('parseUsd', () => {
  it.each([
    [25, 25_000_000],
    ['25', 25_000_000],
    [' 25 ', 25_000_000],
    ['25.5', 25_500_000],
    [0.1, 100_000],
    ['0.1', 100_000],
    [0.7, 700_000],
    ['0.000001', 1],
    [0.000001, 1],
    [1e-6, 1],
    [123.456789, 123_456_789],
    ['123.456789', 123_456_789],
    [1_000_000, 1_000_000_000_000],
    [0, 0],
    ['0', 0],
  ])('reads %j as %i micro-dollars, exactly', (value, expected) => {
    expect(parseUsd(value)).toBe(expected);
  });

  it.each([
    ['1e-7 (below a micro-dollar)', 1e-7],
    ['"0.0000001"', '0.0000001'],
    ['"1.1234567" (7 decimals)', '1.1234567'],
    ['1.1234567 (7 decimals)', 1.1234567],
    ['-1', -1],
    ['"-1"', '-1'],
    ['-0.000001', -0.000001],
    ['0.1 + 0.2 (a float sum, not a decimal)', 0.1 + 0.2],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['1e21', 1e21],
    ['"1e2"', '1e2'],
    ['"25."', '25.'],
    ['".5"', '.5'],
    ['"+1"', '+1'],
    ['"0x10"', '0x10'],
    ['""', ''],
    ['"12345678" (more than 7 whole digits)', '12345678'],
    ['null', null],
    ['true', true],
    ['{}', {}],
  ])('refuses %s', (_label, value) => {
    expect(parseUsd(value)).toBeUndefined();
  });

  it('reads back every amount of at most 6 decimals it formats, number or string', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_BUDGET_MICROS }), (amount) => {
        const text = formatUsd(micros(amount));
        expect(parseUsd(text)).toBe(amount);
        expect(parseUsd(Number(text))).toBe(amount);
        expect(parseUsd(toUsd(micros(amount)))).toBe(amount);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatUsd', () => {
  it.each([
    [24_937_500, '24.937500'],
    [0, '0.000000'],
    [1, '0.000001'],
    [100_000, '0.100000'],
    [700_000, '0.700000'],
    [1_000_000_000_000, '1000000.000000'],
    [-1, '-0.000001'],
    [-1_500_000, '-1.500000'],
  ])('writes %i micro-dollars as %s', (amount, expected) => {
    expect(formatUsd(amount as Micros)).toBe(expected);
  });
});

describe('paymentMicros', () => {
  it.each([
    [0.0123, 12_300],
    [0.00075, 750],
    [0.1 + 0.2, 300_000],
    [0.200001, 200_001],
    [0.0000005, 1],
    [0.0000004, 0],
    [1.0000004, 1_000_000],
    [1.0000006, 1_000_001],
    [999_999.999999, 999_999_999_999],
  ])('counts a payment of %d USD as %i micro-dollars (rounded to the nearest)', (amount, expected) => {
    expect(paymentMicros(amount)).toBe(expected);
  });

  it.each([0, -0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'counts %d as nothing',
    (amount) => {
      expect(paymentMicros(amount)).toBe(0);
    },
  );

  it('is within half a micro-dollar of the amount, and never above a hold the brain kept to', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (hold, share) => {
          const limit = toUsd(micros(hold));
          const paid = Math.round(limit * share * 1e6) / 1e6;
          expect(paymentMicros(paid)).toBeLessThanOrEqual(hold);
          expect(Math.abs(paymentMicros(paid) - paid * 1e6)).toBeLessThanOrEqual(0.5);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('micros and toUsd', () => {
  it('refuses a fraction of a micro-dollar or an unsafe integer', () => {
    expect(() => micros(1.5)).toThrow(RangeError);
    expect(() => micros(Number.MAX_SAFE_INTEGER + 1)).toThrow(RangeError);
    expect(micros(42)).toBe(42);
  });

  it('turns micro-dollars into a JSON number of USD', () => {
    expect(toUsd(micros(24_937_500))).toBe(24.9375);
    expect(toUsd(micros(1))).toBe(0.000001);
    expect(toUsd(MAX_BUDGET_MICROS)).toBe(1_000_000);
  });
});
