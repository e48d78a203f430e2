/**
 * Money in integer micro-dollars (SPEC §5b): a branded integer from the edge inward, so no
 * float ever adds up a budget. A float appears only where JSON goes out (`toUsd`), and a
 * decimal string where a header does (`formatUsd`).
 */

declare const microsBrand: unique symbol;
/** An integer number of millionths of a US dollar. */
export type Micros = number & { readonly [microsBrand]: true };

export const MICROS_PER_USD = 1_000_000;
/** The largest budget limit (SPEC §5b): one million dollars. */
export const MAX_BUDGET_USD = 1_000_000;
export const MAX_BUDGET_MICROS = (MAX_BUDGET_USD * MICROS_PER_USD) as Micros;

export const micros = (value: number): Micros => {
  if (!Number.isSafeInteger(value)) throw new RangeError(`micro-dollars must be an integer, got ${value}`);
  return value as Micros;
};

export const ZERO_MICROS = 0 as Micros;
/** The largest payment counted exactly: far above any budget, far below MAX_SAFE_INTEGER. */
export const MAX_PAYMENT_MICROS = 2 ** 50;

const USD_TEXT = /^(\d{1,7})(?:\.(\d{1,6}))?$/;

/**
 * A USD amount written with at most 6 decimals (a JSON number or a decimal string) as
 * micro-dollars, exactly: the decimal text is read digit by digit, never multiplied as a
 * float. Undefined for anything else (negative, more decimals, not a number).
 */
export function parseUsd(value: unknown): Micros | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    // The shortest text that reads back as this number: 0.1 → "0.1", 1e-6 → "0.000001".
    text = value.toFixed(6).replace(/\.?0+$/, '');
    if (Number(text) !== value) return undefined;
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return undefined;
  }
  const match = USD_TEXT.exec(text);
  if (!match) return undefined;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(6, '0'));
  return micros(whole * MICROS_PER_USD + fraction);
}

/**
 * A payment's amount (a float the brain sends) as micro-dollars, rounded to the nearest
 * micro-dollar; a negative or non-finite amount counts as nothing (logged by the caller).
 */
export function paymentMicros(amount: number): Micros {
  if (!Number.isFinite(amount) || amount <= 0) return ZERO_MICROS;
  // An absurd payment still counts (capped where integers stay exact): it overspends and blocks.
  return micros(Math.min(Math.round(amount * MICROS_PER_USD), MAX_PAYMENT_MICROS));
}

/** Micro-dollars as a JSON number of USD (at most 6 decimals). */
export const toUsd = (amount: Micros): number => amount / MICROS_PER_USD;

/** Micro-dollars as a decimal string with 6 decimals (`24937500` → `24.937500`), for headers. */
export function formatUsd(amount: Micros): string {
  const sign = amount < 0 ? '-' : '';
  const absolute = Math.abs(amount);
  const whole = Math.floor(absolute / MICROS_PER_USD);
  const fraction = String(absolute % MICROS_PER_USD).padStart(6, '0');
  return `${sign}${whole}.${fraction}`;
}
