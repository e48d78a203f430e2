/**
 * The single description of each keygate function — memory, timeout, environment and
 * grants — read by the stack (infra/keygate-stack.ts) and the local runtime (local/), so
 * the two cannot drift. Plain data: no CDK here, the local runtime loads it cheaply.
 */

import { type TableId, tableById, USER_ID_INDEX } from '../shared/adapters/dynamodb/tables.js';
import { METRICS_NAMESPACE, STAGE_ENV_VAR } from '../shared/adapters/observability/metrics.js';
import type { KeyEnvironment } from '../shared/domain/keys/format.js';

export const FUNCTION_NAMES = [
  'authorizer',
  'requests',
  'keys-admin',
  'reference-brain',
  'secret-scanning',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export type DynamoAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:ConditionCheckItem'
  | 'dynamodb:Query';

/** Exactly these calls on one table (or one of its indexes): least privilege at a glance. */
export interface TableGrant {
  table: TableId;
  /** Grant on this index instead of the table itself. */
  index?: string;
  actions: readonly DynamoAction[];
  /** Which SDK calls need it, so the grant can be checked against the code. */
  why: string;
}

export interface FunctionDescription {
  name: FunctionName;
  description: string;
  memoryMb: number;
  /** The stage's brain timeout decides the requests function's wait and the reference brain's stall. */
  timeoutMs(stage: { brainTimeoutMs: number }): number;
  /** Its tables: each one's name arrives in the table's env var, with these grants. */
  tables: readonly TableGrant[];
  /** Invokes the brain: gets BRAIN_FUNCTION_NAME, BRAIN_TIMEOUT_MS and BRAIN_MAX_DURATION_MS, and lambda:InvokeFunction / lambda:InvokeWithResponseStream on it. */
  invokesBrain: boolean;
  /** Issues or verifies keys: gets KEY_ENVIRONMENT, the stage's key prefix (SPEC §5). */
  handlesKeys: boolean;
  /** Sets spend budgets: gets BUDGET_DEFAULT_HOLD_USD, the stage's per-call hold (SPEC §5b). */
  setsBudgets?: boolean;
  /**
   * Tells the stage's operators something: gets ALARM_TOPIC_ARN, and sns:Publish on exactly
   * that topic (the alarms' topic, so one subscription hears both).
   */
  notifiesAlarmTopic: boolean;
}

/** API Gateway gives up after 29 s; the requests function must answer (504) before that. */
export const REQUESTS_TIMEOUT_MS = 28_000;
/** The secret-scanning function's timeout: an answer within GitHub's time limit, or a clear failure. */
export const SECRET_SCANNING_TIMEOUT_MS = 10_000;
/** The reference brain outlives the requests function's wait, so `test-timeout` gives a real 504. */
export const REFERENCE_BRAIN_TIMEOUT_MARGIN_MS = 5_000;

export const FUNCTIONS: Record<FunctionName, FunctionDescription> = {
  authorizer: {
    name: 'authorizer',
    description: 'keygate REQUEST authorizer: verifies and counts API keys',
    // More memory = more CPU: faster cold starts on the path of every request.
    memoryMb: 1024,
    timeoutMs: () => 5_000,
    tables: [
      {
        table: 'ApiKeys',
        actions: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        why: "verify-and-count: one conditional UpdateItem per well-formed key; a sharded key's shards read once per container (BatchGetItem); count_tokens verifies without counting, by one consistent GetItem",
      },
    ],
    invokesBrain: false,
    handlesKeys: true,
    notifiesAlarmTopic: false,
  },
  requests: {
    name: 'requests',
    description: 'keygate POST /api/v1/requests: validate, transform, invoke the brain',
    memoryMb: 512,
    timeoutMs: () => REQUESTS_TIMEOUT_MS,
    tables: [
      {
        table: 'Idempotency',
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        why: 'claim (conditional Put, which returns the old record: no reads), complete (Update), release (Delete)',
      },
      {
        table: 'Budgets',
        actions: ['dynamodb:UpdateItem'],
        why: 'budget hold, its extension, settlement, release and the release of expired holds: each one conditional UpdateItem that returns the item (no reads)',
      },
    ],
    invokesBrain: true,
    handlesKeys: false,
    notifiesAlarmTopic: false,
  },
  'keys-admin': {
    name: 'keys-admin',
    description: 'keygate keys-admin: create, update, list, revoke, rotate API keys and suspend users (ops)',
    memoryMb: 256,
    timeoutMs: () => 30_000,
    tables: [
      {
        table: 'ApiKeys',
        actions: [
          'dynamodb:BatchGetItem',
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
        ],
        why: "create's Put (in the transaction), get/list/rotate/suspend reads, revoke/rotate/suspend updates, re-sharding to fewer shards deleting the removed shard items",
      },
      {
        table: 'ApiKeys',
        index: USER_ID_INDEX,
        actions: ['dynamodb:Query'],
        why: "list pages through the user's keys on the user_id index",
      },
      {
        table: 'Users',
        actions: [
          'dynamodb:ConditionCheckItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
        ],
        why: "create-user (Put), reads, suspend/reactivate and their stamping progress (Update), and the create transaction's check that the user is active",
      },
      {
        table: 'UserKeys',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        why: "create's Put of the key's reference (in the transaction), get/revoke/rotate by key id, rotate-all and suspend reading every key of a user",
      },
      {
        table: 'Budgets',
        actions: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        why: "create's Put of a key's budget (in the create transaction, or alone when update adds one), update's reconfiguration, get/list/usage reading spent and held",
      },
    ],
    invokesBrain: false,
    handlesKeys: true,
    setsBudgets: true,
    notifiesAlarmTopic: false,
  },
  'reference-brain': {
    name: 'reference-brain',
    description: 'keygate reference brain (deterministic, simulated payments)',
    memoryMb: 256,
    timeoutMs: ({ brainTimeoutMs }) => brainTimeoutMs + REFERENCE_BRAIN_TIMEOUT_MARGIN_MS,
    tables: [],
    invokesBrain: false,
    handlesKeys: false,
    notifiesAlarmTopic: false,
  },
  'secret-scanning': {
    name: 'secret-scanning',
    description: 'keygate POST /api/v1/secret-scanning/github: revoke keys GitHub found in public code',
    memoryMb: 512,
    // GitHub expects the partner endpoint to answer a report of many matches without timing out
    // (its limit is not published). Format and checksum are checked offline; every well-formed
    // token of this stage costs one conditional write (25 in flight), so 1,000 tokens take 1-3 s on
    // DynamoDB Local (`npm run bench`) and far less on DynamoDB; 10 s bounds a stuck report, whose
    // repeat is harmless, far below API Gateway's 29 s.
    timeoutMs: () => SECRET_SCANNING_TIMEOUT_MS,
    tables: [
      {
        table: 'ApiKeys',
        actions: ['dynamodb:UpdateItem'],
        why: 'revoke with reason leaked: one conditional UpdateItem per well-formed reported token of this stage, nothing else',
      },
    ],
    invokesBrain: false,
    handlesKeys: true,
    notifiesAlarmTopic: true,
  },
};

export interface EnvironmentInputs {
  /** The stage (`dev`, `staging`, `prod`; `local` for `npm start`): a dimension of every metric. */
  stage: string;
  tableName(id: TableId): string;
  /** `live` for prod, `test` for every other stage and the local stack. */
  keyEnvironment: KeyEnvironment;
  /**
   * The brain: its name, how long the requests function waits for it, and its own time limit
   * (the brain function's timeout), which decides how long a repeat in doubt waits (SPEC §3).
   */
  brain?: { functionName: string; timeoutMs: number; maxDurationMs: number };
  /** The stage's alarm topic (SNS ARN), for the functions that notify it; none locally (logged only). */
  alarmTopicArn?: string;
  /** The stage's default per-call budget hold in USD (SPEC §5b), for keys created without `perCallHold`. */
  budgetDefaultHoldUsd?: number;
}

/** Lambda's longest function timeout: the time limit of a brain whose own is not configured. */
export const LAMBDA_MAX_TIMEOUT_MS = 900_000;

/** The brain's own time limit on a stage: the reference brain's timeout, or the configured one. */
export function brainMaxDurationMs(stage: {
  deployReferenceBrain: boolean;
  brainTimeoutMs: number;
  brainMaxDurationMs?: number | undefined;
}): number {
  if (stage.deployReferenceBrain) return FUNCTIONS['reference-brain'].timeoutMs(stage);
  return stage.brainMaxDurationMs ?? LAMBDA_MAX_TIMEOUT_MS;
}

/** A function's environment on AWS and locally: its stage, tables' names, brain, alarm topic, Powertools' names. */
export function environmentOf(fn: FunctionDescription, inputs: EnvironmentInputs): Record<string, string> {
  const env: Record<string, string> = {
    POWERTOOLS_SERVICE_NAME: fn.name,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    [STAGE_ENV_VAR]: inputs.stage,
  };
  for (const grant of fn.tables) env[tableById(grant.table).envVar] = inputs.tableName(grant.table);
  if (fn.handlesKeys) env.KEY_ENVIRONMENT = inputs.keyEnvironment;
  if (fn.invokesBrain) {
    if (!inputs.brain) throw new Error(`${fn.name} invokes the brain, but no brain was given`);
    env.BRAIN_FUNCTION_NAME = inputs.brain.functionName;
    env.BRAIN_TIMEOUT_MS = String(inputs.brain.timeoutMs);
    env.BRAIN_MAX_DURATION_MS = String(inputs.brain.maxDurationMs);
  }
  if (fn.notifiesAlarmTopic && inputs.alarmTopicArn !== undefined) env.ALARM_TOPIC_ARN = inputs.alarmTopicArn;
  if (fn.setsBudgets && inputs.budgetDefaultHoldUsd !== undefined) {
    env.BUDGET_DEFAULT_HOLD_USD = String(inputs.budgetDefaultHoldUsd);
  }
  return env;
}
