/**
 * The saved CloudWatch Logs Insights queries of a stage (`AWS::Logs::QueryDefinition`, folder
 * `keygate-<stage>/` in the console), for the questions ops ask (docs/operations.md). Plain
 * data: the stack deploys them, the dashboard shows some of them, and the tests apply each
 * query's filter to the log lines the real functions write, so a query cannot silently stop
 * matching what the code logs.
 *
 * Every function logs JSON lines (Powertools), whose fields Logs Insights discovers by name.
 */
import type { FunctionName } from './functions.js';

/** Where a query reads: a function's log group, or the API's access log. */
export type LogSource = FunctionName | 'access-log';

export interface SavedQueryParameter {
  name: string;
  description: string;
}

export interface SavedQuery {
  /** Construct id and the query's name in the stage's folder. */
  id: string;
  /** What it answers, for the console and docs/operations.md. */
  question: string;
  sources: readonly LogSource[];
  /** The log lines it reads: their `message`. */
  messages?: readonly string[];
  /** `level` of the lines it reads (ERROR), instead of messages. */
  level?: string;
  /**
   * A value to look up, matched as a whole JSON string value anywhere in the line (`"value"`):
   * a key id, a user id, a key's start (`kg_live_AbCd`) or a request id all work.
   */
  lookup?: SavedQueryParameter;
  fields: readonly string[];
  sortBy: { field: string; descending: boolean };
  limit: number;
}

/** The one parameter of the lookup queries. */
const KEY_OR_USER: SavedQueryParameter = {
  name: 'lookup',
  description:
    "A key id (key_…), a user id, a key's start (kg_live_AbCd) or the request_id of an error answer",
};

/** The authorizer's and the requests function's refusal lines (functions/authorizer, shared/domain/requests). */
export const REFUSAL_MESSAGES = [
  'request refused',
  'request over a key limit',
  'request outside the key scopes',
] as const;

/** The requests function's line per brain call, answered or failed. */
export const BRAIN_CALL_MESSAGES = ['request answered', 'brain call failed'] as const;

/** The lookup of the spend query: the ledger's lines name the key, its user and its budget. */
const KEY_USER_OR_BUDGET: SavedQueryParameter = {
  name: 'lookup',
  description:
    'A key id (key_…), a user id, or a budget id (bud_…: every key that draws on it, a rotated one included)',
};

/** The ledger's line per settled (or released) hold: what the call paid, and the budget after it. */
export const BUDGET_SETTLED_MESSAGE = 'budget settled';

/** The requests function's budget lines (shared/domain/budgets/ledger.ts), settled first. */
export const BUDGET_MESSAGES = [
  BUDGET_SETTLED_MESSAGE,
  'budget exceeded',
  'brain paid more than the hold',
  'brain paid in a currency other than USD',
  'budget settlement not recorded',
] as const;

export const SAVED_QUERIES = [
  {
    id: 'key-refusals',
    question:
      "Is this key (or user, or request) being refused, and why? Each refusal's reason, newest first.",
    sources: ['authorizer', 'requests'],
    messages: REFUSAL_MESSAGES,
    lookup: KEY_OR_USER,
    fields: ['@timestamp', 'reason', 'key_id', 'user_id', 'key_start', 'request_id', 'fields', 'hash_prefix'],
    sortBy: { field: '@timestamp', descending: true },
    limit: 200,
  },
  {
    id: 'key-audit',
    question:
      'Who did what to this key or user: every keys-admin action and leaked-key revocation, with the actor.',
    sources: ['keys-admin', 'secret-scanning'],
    messages: ['audit'],
    lookup: KEY_OR_USER,
    fields: [
      '@timestamp',
      'actor',
      'action',
      'outcome',
      'user_id',
      'key_id',
      'key_ids.0',
      'url',
      'keys_updated',
    ],
    sortBy: { field: '@timestamp', descending: true },
    limit: 500,
  },
  {
    id: 'slowest-brain-calls',
    question: 'The slowest brain calls, answered or failed, with their key, provider and model.',
    sources: ['requests'],
    messages: BRAIN_CALL_MESSAGES,
    fields: [
      '@timestamp',
      'brain_ms',
      'outcome',
      'code',
      'provider',
      'model',
      'key_id',
      'user_id',
      'request_id',
    ],
    sortBy: { field: 'brain_ms', descending: true },
    limit: 100,
  },
  {
    id: 'leaked-key-reports',
    question:
      "GitHub's secret-scanning reports: each revoked key with the URL where it leaked, and each report.",
    sources: ['secret-scanning'],
    messages: [
      'audit',
      'secret-scanning report handled',
      'secret-scanning report refused',
      'secret-scanning report failed',
    ],
    fields: [
      '@timestamp',
      'message',
      'outcome',
      'key_id',
      'user_id',
      'url',
      'source',
      'tokens',
      'true_positives',
      'reason',
      'request_id',
    ],
    sortBy: { field: '@timestamp', descending: true },
    limit: 200,
  },
  {
    id: 'key-spend',
    question:
      "What has this key spent: each call's payment and hold, the budget's spent and remaining after it (its spend over time), refusals, overspends and settlements not recorded, newest first.",
    sources: ['requests'],
    messages: BUDGET_MESSAGES,
    lookup: KEY_USER_OR_BUDGET,
    fields: [
      '@timestamp',
      'message',
      'paid_usd',
      'held_usd',
      'spent_usd',
      'remaining_usd',
      'hold_usd',
      'currency',
      'amount',
      'key_id',
      'user_id',
      'budget_id',
      'request_id',
    ],
    sortBy: { field: '@timestamp', descending: true },
    limit: 500,
  },
  {
    id: 'function-errors',
    question:
      'What failed: every ERROR line of every function, newest first (start here when an alarm fires).',
    sources: ['authorizer', 'requests', 'keys-admin', 'secret-scanning'],
    level: 'ERROR',
    fields: [
      '@timestamp',
      'service',
      'message',
      'request_id',
      'code',
      'error_name',
      'error_message',
      'key_id',
    ],
    sortBy: { field: '@timestamp', descending: true },
    limit: 200,
  },
] as const satisfies readonly SavedQuery[];

export type SavedQueryId = (typeof SAVED_QUERIES)[number]['id'];

export function savedQuery(id: SavedQueryId): SavedQuery {
  const query = SAVED_QUERIES.find((candidate) => candidate.id === id);
  if (!query) throw new Error(`no saved query ${id}`);
  return query;
}

/** A value as it appears in a JSON log line: in double quotes. */
export const quoted = (value: string): string => `"${value}"`;

/** The query's Logs Insights QL text (`{{lookup}}` is its parameter). */
export function queryStringOf(query: SavedQuery): string {
  const lines = [`fields ${query.fields.join(', ')}`];
  if (query.messages) {
    lines.push(
      query.messages.length === 1
        ? `filter message = ${quoted(query.messages[0] as string)}`
        : `filter message in [${query.messages.map(quoted).join(', ')}]`,
    );
  }
  if (query.level) lines.push(`filter level = ${quoted(query.level)}`);
  // The value in double quotes, inside a single-quoted string: a whole JSON string value.
  if (query.lookup) lines.push(`filter @message like '"{{${query.lookup.name}}}"'`);
  lines.push(`sort ${query.sortBy.field} ${query.sortBy.descending ? 'desc' : 'asc'}`);
  lines.push(`limit ${query.limit}`);
  return lines.join('\n| ');
}

/** The query's name in the console: a folder per stage. */
export function savedQueryName(stage: string, query: Pick<SavedQuery, 'id'>): string {
  return `keygate-${stage}/${query.id}`;
}
