/**
 * The one typed stage configuration (SPEC §7). The stack and the local runtime (throttle)
 * read it; `-c brainFunctionArn=` and `-c brainMaxDurationMs=` override the brain per deployment.
 */
import * as z from 'zod';
import { MAX_BUDGET_MICROS, parseUsd } from '../shared/domain/budgets/money.js';

export const STAGE_NAMES = ['dev', 'staging', 'prod'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export const TLS_SECURITY_POLICY = 'SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09';

const customDomainSchema = z.object({
  domainName: z.string().min(3),
  certificateArn: z.string().startsWith('arn:'),
  hostedZoneId: z.string().min(1),
  hostedZoneName: z.string().min(1),
  /** STRICT rejects requests whose SNI/Host do not match the domain; BASIC for migrations. */
  endpointAccessMode: z.enum(['STRICT', 'BASIC']).default('STRICT'),
});

/** Alarm thresholds: an alarm fires when a period's sum reaches the threshold. */
const alarmsSchema = z.object({
  periodMinutes: z.number().int().min(1).max(60),
  /** Lambda `Errors` (crashes, timeouts, init failures) of one keygate function. */
  functionErrors: z.number().int().positive(),
  /** Authorizer refusals because the key store was unreachable (it fails closed). */
  authorizerUnavailable: z.number().int().positive(),
  /** API answers with a 5xx status (gateway and function). */
  api5xx: z.number().int().positive(),
  /** `brain_error` + `brain_unavailable` + `brain_timeout` answers. */
  brainFailures: z.number().int().positive(),
  /** DynamoDB read + write throttle events of one table (and its indexes). */
  dynamoThrottles: z.number().int().positive(),
});

/**
 * CloudTrail data events of the keys-admin function (SPEC §6, §7): who really invoked it,
 * kept in the stage's audit bucket for `retentionDays`. Off, the stage has no trail and no
 * bucket (the key operators policy exists either way).
 */
const auditSchema = z.discriminatedUnion('cloudTrail', [
  z.object({ cloudTrail: z.literal(false) }),
  z.object({
    cloudTrail: z.literal(true),
    /** Trail files (and a deleted or replaced file's old version) are expired after this many days. */
    retentionDays: z.number().int().positive(),
  }),
]);

/** AWS WAF's bounds for a rate-based rule's limit (requests per evaluation window per key). */
export const WAF_RATE_LIMIT_MIN = 10;
export const WAF_RATE_LIMIT_MAX = 2_000_000_000;
/** The rate-based rule counts each IP's requests over this window (WAF's default, 5 minutes). */
export const WAF_RATE_WINDOW_SECONDS = 300;

/**
 * The stage's WAFv2 web ACL (SPEC §7 abuse): a per-IP rate-based rule and AWS's IP
 * reputation and known-bad-inputs rule groups. Off, the stage has no web ACL at all.
 */
const wafSchema = z.discriminatedUnion('enabled', [
  z.object({ enabled: z.literal(false) }),
  z.object({
    enabled: z.literal(true),
    /** Requests one IP address may make per 5-minute window before WAF blocks it (403 forbidden). */
    rateLimitPerIp: z.number().int().min(WAF_RATE_LIMIT_MIN).max(WAF_RATE_LIMIT_MAX),
  }),
]);

/**
 * A per-call budget hold in USD (SPEC §5b): positive, at most 6 decimals (it becomes exact
 * micro-dollars), and no larger than the largest budget.
 */
const holdUsdSchema = z.number().refine(
  (value) => {
    const amount = parseUsd(value);
    return amount !== undefined && amount > 0 && amount <= MAX_BUDGET_MICROS;
  },
  { message: 'must be a USD amount > 0 with at most 6 decimals, at most 1000000' },
);

export const stageConfigSchema = z.object({
  stage: z.enum(STAGE_NAMES),
  /** Deploy functions/reference-brain as the brain (dev only). */
  deployReferenceBrain: z.boolean(),
  brainFunctionArn: z.string().startsWith('arn:').optional(),
  retainData: z.boolean(),
  pointInTimeRecovery: z.boolean(),
  logRetentionDays: z.number().int().positive(),
  throttle: z.object({ rateLimit: z.number().positive(), burstLimit: z.number().int().positive() }),
  /** ≤ 26 s: the requests function (28 s timeout) must outlive the brain call and answer 504 itself. */
  brainTimeoutMs: z.number().int().min(1000).max(26_000),
  /**
   * The real brain function's own timeout. After a 504 or a lost answer a repeat of the
   * Idempotency-Key waits until it has surely passed (SPEC §3), so set it to the brain's
   * configured timeout; unset, Lambda's maximum (900 s) is assumed. Ignored when the reference
   * brain is deployed: its timeout is known.
   */
  brainMaxDurationMs: z.number().int().min(1000).max(900_000).optional(),
  /**
   * What one call of a budgeted key may cost at most when its key names no `perCallHold`
   * (SPEC §5b): the hold taken before the brain is invoked and the brain's `spend_limit`. Too
   * small, the brain refuses dearer calls (policy `spend_limit`); too large, a small budget
   * admits fewer calls at once. keys-admin gets it as BUDGET_DEFAULT_HOLD_USD.
   */
  budgetDefaultHoldUsd: holdUsdSchema,
  alarms: alarmsSchema,
  /** Subscribed to the stage's alarm topic when set. */
  alarmEmail: z.email().optional(),
  customDomain: customDomainSchema.optional(),
  audit: auditSchema,
  waf: wafSchema,
});

export type StageConfig = z.infer<typeof stageConfigSchema>;

export const STAGES: Record<StageName, StageConfig> = {
  dev: {
    stage: 'dev',
    deployReferenceBrain: true,
    retainData: false,
    pointInTimeRecovery: true,
    logRetentionDays: 7,
    throttle: { rateLimit: 50, burstLimit: 100 },
    brainTimeoutMs: 25_000,
    // The reference brain's per-request cost ceiling (DEFAULT_MAX_COST_USD): a default hold
    // covers any call it approves, and no call it approves is refused for the hold's sake.
    budgetDefaultHoldUsd: 0.5,
    alarms: {
      periodMinutes: 5,
      functionErrors: 5,
      authorizerUnavailable: 5,
      api5xx: 10,
      brainFailures: 10,
      dynamoThrottles: 10,
    },
    // No trail in dev: data events cost per event and a bucket per stage, for keys that only
    // open test environments. Turn it on here (with retentionDays) to audit dev too.
    audit: { cloudTrail: false },
    // No web ACL in dev: it costs a monthly fee per ACL and per rule plus a fee per request,
    // for an API that only test keys open. Turn it on here (with rateLimitPerIp) to try it in dev.
    waf: { enabled: false },
  },
  staging: {
    stage: 'staging',
    deployReferenceBrain: false,
    retainData: true,
    pointInTimeRecovery: true,
    logRetentionDays: 30,
    throttle: { rateLimit: 200, burstLimit: 400 },
    brainTimeoutMs: 25_000,
    // As prod: staging tries out what prod will do, and a key created the same way holds the same.
    budgetDefaultHoldUsd: 0.5,
    alarms: {
      periodMinutes: 5,
      functionErrors: 1,
      authorizerUnavailable: 1,
      api5xx: 5,
      brainFailures: 5,
      dynamoThrottles: 1,
    },
    // A year: long enough to investigate anything found in staging; the files are a few KB.
    audit: { cloudTrail: true, retentionDays: 365 },
    // 3,000 per 5 minutes = 10 requests/s from one address on average: far above a tester's
    // traffic, low enough that a loop from one machine is cut off within the window.
    waf: { enabled: true, rateLimitPerIp: 3000 },
  },
  prod: {
    stage: 'prod',
    deployReferenceBrain: false,
    retainData: true,
    pointInTimeRecovery: true,
    logRetentionDays: 365,
    throttle: { rateLimit: 1000, burstLimit: 2000 },
    brainTimeoutMs: 25_000,
    // The brain contract's per-request ceiling, as on dev: a client that works against the
    // reference brain is held the same here. A key whose calls cost more (or much less: more
    // calls at once on a small budget) sets its own `perCallHold`.
    budgetDefaultHoldUsd: 0.5,
    alarms: {
      periodMinutes: 1,
      functionErrors: 1,
      authorizerUnavailable: 1,
      api5xx: 5,
      brainFailures: 5,
      dynamoThrottles: 1,
    },
    // Seven years (7 × 365 days), the usual retention for audit records (e.g. SOX, most
    // financial regulators), so the trail of who issued or revoked a live key outlives any review.
    audit: { cloudTrail: true, retentionDays: 2555 },
    // 30,000 per 5 minutes = 100 requests/s from one address on average: a customer's backend
    // behind one NAT address stays well under it (each key has its own limits besides), while a
    // flood from one address is blocked before it reaches the authorizer and DynamoDB.
    waf: { enabled: true, rateLimitPerIp: 30_000 },
  },
};

export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
}

/** Resolves `-c stage=` and overrides into a validated config, with errors a human can act on. */
export function resolveStage(
  stage: unknown,
  overrides: { brainFunctionArn?: unknown; brainMaxDurationMs?: unknown } = {},
): StageConfig {
  if (typeof stage !== 'string' || !(STAGE_NAMES as readonly string[]).includes(stage)) {
    throw new StageConfigError(
      `Unknown stage ${JSON.stringify(stage)}. Use -c stage=${STAGE_NAMES.join('|')}.`,
    );
  }
  const base = STAGES[stage as StageName];
  const brainFunctionArn =
    typeof overrides.brainFunctionArn === 'string' && overrides.brainFunctionArn !== ''
      ? overrides.brainFunctionArn
      : base.brainFunctionArn;
  const brainMaxDurationMs =
    overrides.brainMaxDurationMs === undefined || overrides.brainMaxDurationMs === ''
      ? base.brainMaxDurationMs
      : Number(overrides.brainMaxDurationMs);
  const config = stageConfigSchema.parse({
    ...base,
    ...(brainFunctionArn ? { brainFunctionArn } : {}),
    ...(brainMaxDurationMs === undefined ? {} : { brainMaxDurationMs }),
  });
  if (!config.deployReferenceBrain && !config.brainFunctionArn) {
    throw new StageConfigError(
      `Stage "${config.stage}" needs the brain's Lambda ARN: set brainFunctionArn in infra/stages.ts or pass -c brainFunctionArn=arn:aws:lambda:REGION:ACCOUNT:function:NAME.`,
    );
  }
  return config;
}
