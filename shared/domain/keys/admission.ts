/**
 * What the authorizer tells the requests function about an admitted key (SPEC §5): identity,
 * project binding, scopes, the limits' header values and, for a call over a limit, the
 * refusal to answer (a Deny could only become a 401). API Gateway passes an authorizer's
 * context as strings, so this is the one encoding both sides use.
 */
import type { KeyBudgetRef } from '../budgets/model.js';
import type { LimitStatus } from './limits.js';
import type { KeyScopes } from './model.js';
import { QUOTA_PERIODS } from './model.js';
import type { Admission, LimitRefusalReason } from './verify.js';

/** The authorizer context's values, as API Gateway hands them on (strings). */
export type AdmissionContext = Record<string, string>;

export interface LimitRefusal {
  reason: LimitRefusalReason;
  /** Absent when waiting does not help (a spent `total` quota). */
  retryAfterSeconds?: number;
}

export function admissionContextOf(admission: Admission, refusal?: LimitRefusal): AdmissionContext {
  return {
    userId: admission.userId,
    keyId: admission.keyId,
    projectId: admission.projectId,
    projectBound: String(admission.projectBound),
    scopes: admission.scopes ? JSON.stringify(admission.scopes) : '',
    limits: admission.limits.rate || admission.limits.quota ? JSON.stringify(admission.limits) : '',
    limited: refusal?.reason ?? '',
    retryAfter: refusal?.retryAfterSeconds !== undefined ? String(refusal.retryAfterSeconds) : '',
    budget: admission.budget ? JSON.stringify(admission.budget) : '',
  };
}

function parsed<T>(text: unknown): T | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * The budget the context names. Fail closed: a budget that is present but unreadable is one
 * with nothing left (its id unknown to the store, so the hold is refused), never no budget.
 */
function budgetOf(text: unknown): KeyBudgetRef | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const ref = parsed<Partial<KeyBudgetRef>>(text);
  const readable =
    ref !== undefined &&
    typeof ref.budgetId === 'string' &&
    Number.isSafeInteger(ref.limit) &&
    Number.isSafeInteger(ref.hold) &&
    (QUOTA_PERIODS as readonly unknown[]).includes(ref.period);
  return readable ? (ref as KeyBudgetRef) : { budgetId: 'unreadable', limit: 0, period: 'total', hold: 0 };
}

/** The grant and limits the context carries (missing or unreadable parts are absent). */
export function admissionFromContext(context: Record<string, unknown>): {
  projectBound: boolean;
  scopes?: KeyScopes;
  limits: LimitStatus;
  refusal?: LimitRefusal;
  budget?: KeyBudgetRef;
} {
  const budget = budgetOf(context.budget);
  // Fail closed: scopes that are present but unreadable allow nothing.
  const scopes =
    typeof context.scopes === 'string' && context.scopes !== ''
      ? (parsed<KeyScopes>(context.scopes) ?? { providers: [], models: [], operations: [] })
      : undefined;
  const reason = context.limited;
  const retryAfter = Number(context.retryAfter);
  return {
    projectBound: context.projectBound === 'true' || context.projectBound === true,
    ...(scopes ? { scopes } : {}),
    limits: parsed<LimitStatus>(context.limits) ?? {},
    ...(budget ? { budget } : {}),
    ...(reason === 'rate_limited' || reason === 'quota_exceeded'
      ? {
          refusal: {
            reason,
            ...(context.retryAfter !== '' && Number.isFinite(retryAfter)
              ? { retryAfterSeconds: retryAfter }
              : {}),
          },
        }
      : {}),
  };
}

/** SPEC §3's limit headers, on every answer to a key that has the limit. */
export function limitHeadersOf(limits: LimitStatus): Record<string, string> {
  const headers: Record<string, string> = {};
  if (limits.rate) {
    headers['RateLimit-Limit'] = String(limits.rate.limit);
    headers['RateLimit-Remaining'] = String(limits.rate.remaining);
    headers['RateLimit-Reset'] = String(limits.rate.resetSeconds);
  }
  if (limits.quota) {
    headers['X-Quota-Limit'] = String(limits.quota.limit);
    headers['X-Quota-Remaining'] = String(limits.quota.remaining);
    if (limits.quota.resetSeconds !== undefined) headers['X-Quota-Reset'] = String(limits.quota.resetSeconds);
  }
  return headers;
}
