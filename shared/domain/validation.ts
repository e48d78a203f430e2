/** zod issues → the envelope's `details`: one entry per bad field, shared by every validator. */
import type { ErrorDetail } from '../errors.js';
import type * as z from './zod.js';

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
