/**
 * Names of the stack and its outputs. The ops CLI (`npm run keys -- … --stage NAME`) reads
 * the deployed stack's outputs by these keys, so they are defined once, here.
 */
import type { StageConfig, StageName } from './stages.js';

export const STACK_OUTPUTS = {
  apiUrl: 'ApiUrl',
  keysAdminFunctionName: 'KeysAdminFunctionName',
  brainFunctionName: 'BrainFunctionName',
  /** For a brain in another account: its resource policy must allow this role to invoke it. */
  requestsRoleArn: 'RequestsRoleArn',
  apiKeysTableName: 'ApiKeysTableName',
  usersTableName: 'UsersTableName',
  userKeysTableName: 'UserKeysTableName',
  idempotencyTableName: 'IdempotencyTableName',
  budgetsTableName: 'BudgetsTableName',
  alarmTopicArn: 'AlarmTopicArn',
  /** The stage's CloudWatch dashboard in the console (docs/operations.md). */
  dashboardUrl: 'DashboardUrl',
  /** Attach to an operator's role or user: invoke keys-admin, read these outputs, read the audit trail. */
  keyOperatorsPolicyArn: 'KeyOperatorsPolicyArn',
  /** Only where the stage has the audit trail (`audit.cloudTrail`). */
  auditTrailArn: 'AuditTrailArn',
  /** Only where the stage has the audit trail: the bucket of its CloudTrail files. */
  auditBucketName: 'AuditBucketName',
} as const;

export type StackOutputKey = (typeof STACK_OUTPUTS)[keyof typeof STACK_OUTPUTS];

/** The outputs only a stage with the audit trail has. */
export const AUDIT_TRAIL_OUTPUTS: readonly StackOutputKey[] = [
  STACK_OUTPUTS.auditTrailArn,
  STACK_OUTPUTS.auditBucketName,
];

/** Every output key the stack of a stage with this configuration has. */
export function stackOutputKeysOf(config: Pick<StageConfig, 'audit'>): StackOutputKey[] {
  return Object.values(STACK_OUTPUTS).filter(
    (key) => config.audit.cloudTrail || !AUDIT_TRAIL_OUTPUTS.includes(key),
  );
}

/** The tags the stack puts on every resource that takes tags. */
export const STACK_TAG_KEYS = ['project', 'stage'] as const;

/** `keygate-dev`, `keygate-staging`, `keygate-prod`. */
export function stackNameFor(stage: StageName): string {
  return `keygate-${stage}`;
}
