/**
 * The body GitHub secret scanning posts to the partner endpoint, and the answer it expects
 * (SPEC §3c). GitHub documents the body as a JSON array of `{token, type, url, source}`:
 * - the four fields are required and must be strings (anything else is not GitHub's body → 400);
 * - other fields on an item are accepted and dropped: GitHub documents exactly these four,
 *   but a field it adds later must not stop a leaked key from being revoked;
 * - at most 1,000 items (SPEC §3c); an empty array is valid and answers `[]` (nothing was
 *   reported, so there is nothing to refuse).
 * Validation issues never carry the input: a detail names a path, never a token.
 */
import type { ErrorDetail } from '../../errors.js';
import { hashKey } from '../keys/format.js';
import { issuesToDetails } from '../validation.js';
import * as z from '../zod.js';

export const MAX_REPORTED_TOKENS = 1000;
/** One bad field per item of a 1,000-item body would make a huge 400; the first few say enough. */
export const MAX_REPORT_DETAILS = 10;

export const leakReportItemSchema = z.object({
  token: z.string(),
  type: z.string(),
  url: z.string(),
  source: z.string(),
});

export const leakReportSchema = z.array(leakReportItemSchema).check(z.maxLength(MAX_REPORTED_TOKENS));

export type LeakReportItem = z.infer<typeof leakReportItemSchema>;
export type LeakReport = z.infer<typeof leakReportSchema>;

export const LEAK_LABELS = ['true_positive', 'false_positive'] as const;
export type LeakLabel = (typeof LEAK_LABELS)[number];

/** One entry of the 200 answer: hex SHA-256 of the token, GitHub's `type`, and our verdict. */
export const leakAnswerItemSchema = z.object({
  token_hash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  token_type: z.string(),
  label: z.enum(LEAK_LABELS),
});

/** The 200 answer (SPEC §3c): one entry per reported item. */
export const leakReportAnswerSchema = z.array(leakAnswerItemSchema);

export type LeakAnswerItem = z.infer<typeof leakAnswerItemSchema>;
export type LeakAnswer = z.infer<typeof leakReportAnswerSchema>;

/** The parsed body (already JSON-decoded), or the envelope details of why it is not GitHub's. */
export function parseLeakReport(
  body: unknown,
): { ok: true; report: LeakReport } | { ok: false; details: ErrorDetail[] } {
  const parsed = leakReportSchema.safeParse(body);
  if (parsed.success) return { ok: true, report: parsed.data };
  return { ok: false, details: issuesToDetails(parsed.error.issues).slice(0, MAX_REPORT_DETAILS) };
}

/** The answer entry for a reported item: `token_hash` is the same hex SHA-256 the keys table is keyed by. */
export function answerItem(item: LeakReportItem, label: LeakLabel): LeakAnswerItem {
  return { token_hash: hashKey(item.token), token_type: item.type, label };
}
