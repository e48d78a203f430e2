/**
 * What a GitHub secret-scanning report does (SPEC §3c): each reported token that is one of
 * this stage's keys is revoked at once with reason `leaked` (the key store's one conditional
 * revoke write, the same keys-admin's `revoke` uses), audited, counted and announced to the
 * stage's operators; anything else is a false positive. Format and checksum come first, so
 * garbage and other stages' keys cost no database call. No token ever reaches a log, a
 * metric or a notification: only its hash, the key id and what GitHub said about it.
 */

import { mapConcurrently } from '../concurrency.js';
import { environmentOfKey, hashKey, type KeyEnvironment } from '../keys/format.js';
import { KeyStateError, type KeyStore } from '../keys/ports.js';
import type { LogSink } from '../ports.js';
import type { LeakNotice, LeakTelemetry } from './ports.js';
import {
  answerItem,
  type LeakAnswer,
  type LeakLabel,
  type LeakReport,
  type LeakReportItem,
} from './report.js';

export const LEAKED_REASON = 'leaked';
/** Who the audit line names as the actor: GitHub reported it, nobody at keygate chose to. */
export const LEAK_ACTOR = 'github-secret-scanning';
/** Revocations in flight at once: 1,000 tokens finish well within GitHub's time limit. */
export const LEAK_CONCURRENCY = 25;

export interface LeakDeps {
  keys: Pick<KeyStore, 'revoke'>;
  /** The keys this stage issues (`live` in prod): another environment's key cannot be in its table. */
  environment: KeyEnvironment;
  /** Announces a newly revoked key on the stage's alarm topic. */
  notify(notice: LeakNotice): Promise<void>;
  logger: Pick<LogSink, 'info' | 'warn' | 'error'>;
  telemetry: LeakTelemetry;
  clock?: () => Date;
}

async function handleToken(item: LeakReportItem, deps: LeakDeps, now: Date): Promise<LeakLabel> {
  // Format and checksum first: garbage and other stages' keys never reach the database.
  if (environmentOfKey(item.token) !== deps.environment) {
    deps.telemetry.tokenReported('false_positive', false);
    return 'false_positive';
  }
  const tokenHash = hashKey(item.token);
  const reported = { url: item.url, source: item.source, type: item.type };
  try {
    const revoked = await deps.keys.revoke(tokenHash, now, LEAKED_REASON);
    deps.logger.warn('audit', {
      actor: LEAK_ACTOR,
      action: 'revoke-leaked',
      key_id: revoked.key_id,
      user_id: revoked.user_id,
      outcome: 'revoked',
      ...reported,
    });
    deps.telemetry.tokenReported('true_positive', true);
    try {
      await deps.notify({
        keyId: revoked.key_id,
        userId: revoked.user_id,
        ...reported,
        revokedAt: now.toISOString(),
      });
    } catch (error) {
      // The key is revoked, which is what matters; the audit line and the metric still tell.
      deps.logger.error('leaked key notification not sent', {
        key_id: revoked.key_id,
        error_name: error instanceof Error ? error.name : 'unknown',
      });
    }
    return 'true_positive';
  } catch (error) {
    if (!(error instanceof KeyStateError)) throw error;
    if (!error.current) {
      // Well formed and of this stage, but never issued here.
      deps.telemetry.tokenReported('false_positive', false);
      return 'false_positive';
    }
    // One of our keys, already revoked (a repeat of this report, or an operator was faster).
    deps.logger.info('audit', {
      actor: LEAK_ACTOR,
      action: 'revoke-leaked',
      key_id: error.current.key_id,
      user_id: error.current.user_id,
      outcome: 'already_revoked',
      ...reported,
    });
    deps.telemetry.tokenReported('true_positive', false);
    return 'true_positive';
  }
}

/**
 * Revokes every reported key of this stage and labels each token. A store failure throws
 * (the caller answers 500, GitHub retries the report, and repeats are harmless).
 */
export async function handleLeakReport(report: LeakReport, deps: LeakDeps): Promise<LeakAnswer> {
  const now = (deps.clock ?? (() => new Date()))();
  // A token reported many times (one leak found in many files) costs one write and one
  // notice; every item of the report still gets its label.
  const firstOfToken = new Map<string, LeakReportItem>();
  for (const item of report) if (!firstOfToken.has(item.token)) firstOfToken.set(item.token, item);
  const unique = [...firstOfToken.values()];
  const labels = await mapConcurrently(unique, LEAK_CONCURRENCY, (item) => handleToken(item, deps, now));
  const labelOf = new Map(
    unique.map((item, index) => [item.token, labels[index] ?? 'false_positive'] as const),
  );
  return report.map((item) => answerItem(item, labelOf.get(item.token) ?? 'false_positive'));
}
