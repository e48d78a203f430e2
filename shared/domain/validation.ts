/** zod issues → the envelope's `details`: one entry per bad field, shared by every validator. */
import type { ErrorDetail } from '../errors.js';
import * as z from './zod.js';

/** zod issues → `[{path, message}]`, one entry per bad field; an unknown field is named by its own path. */
export function issuesToDetails(issues: readonly z.core.$ZodIssue[]): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        details.push({ path: [...base, key].join('.'), message: `unknown field "${key}"` });
      }
    } else if (issue.code === 'invalid_type' && issue.input === null) {
      // Parsed with `reportInput: true` only to tell this case apart; the input itself is never echoed.
      details.push({ path: base.join('.'), message: 'null is not allowed; omit the field instead' });
    } else {
      details.push({ path: base.join('.'), message: issue.message });
    }
  }
  return details;
}

/**
 * At most `maximum` in JavaScript string length (UTF-16 code units), as SPEC §3 counts, while
 * zod ≥ 4.6 counts code points. zod's own check stays (it is what JSON Schema can express)
 * and the second catches only what it lets through, so a string gets one issue, never two.
 */
export function maxStringLength(maximum: number) {
  return [
    z.maxLength(maximum),
    z.refine<string>((value) => value.length <= maximum || [...value].length > maximum, {
      message: `Too big: expected string to have <=${maximum} characters (JavaScript string length: characters outside the BMP, such as emoji, count 2)`,
    }),
  ] as const;
}
