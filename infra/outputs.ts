/**
 * Names of the stack and its outputs. The ops CLI (`npm run keys -- … --stage NAME`) reads
 * the deployed stack's outputs by these keys, so they are defined once, here.
 */
import type { StageName } from './stages.js';

export const STACK_OUTPUTS = {
  apiUrl: 'ApiUrl',
  keysAdminFunctionName: 'KeysAdminFunctionName',
  brainFunctionName: 'BrainFunctionName',
  /** For a brain in another account: its resource policy must allow this role to invoke it. */
  requestsRoleArn: 'RequestsRoleArn',
  apiKeysTableName: 'ApiKeysTableName',
  usersTableName: 'UsersTableName',
  idempotencyTableName: 'IdempotencyTableName',
  alarmTopicArn: 'AlarmTopicArn',
} as const;

export type StackOutputKey = (typeof STACK_OUTPUTS)[keyof typeof STACK_OUTPUTS];

/** `keygate-dev`, `keygate-staging`, `keygate-prod`. */
export function stackNameFor(stage: StageName): string {
  return `keygate-${stage}`;
}
