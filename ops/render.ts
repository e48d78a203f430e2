/**
 * Readable output for a successful keys-admin answer: plain aligned tables of users and key
 * metadata (limits and scopes compactly: RATE `100/60s`, QUOTA `12/10000 month`, BUDGET
 * `$1.25/$25.00 month, $23.75 left`), the
 * plaintext key (create, rotate) flagged as shown only once, rotate's retired keys, a user's
 * keys' usage (the current rate window and quota period, and why a key is refused), and the
 * hint for the next page of a list. `--json` bypasses this module entirely.
 */
import type { AdminAction } from '../shared/domain/admin/events.js';
import type { KeyMetadata, UserView } from '../shared/domain/keys/metadata.js';
import type { KeyUsage } from '../shared/domain/keys/usage.js';

/** keys-admin's `ok: true` answer (SPEC §6): each action fills the fields it has. */
export interface OkAnswer {
  ok: true;
  user?: UserView;
  apiKey?: string;
  key?: KeyMetadata;
  keys?: KeyMetadata[];
  usage?: KeyUsage[];
  nextToken?: string | null;
  retired?: KeyMetadata[];
  keysUpdated?: number;
  complete?: boolean;
}

/** Left-aligned columns two spaces apart; no trailing blanks, so output diffs cleanly. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Absent values print as `-` so columns never collapse. */
const shown = (value: string | number | null | undefined) =>
  value === null || value === undefined ? '-' : String(value);

/** An instant as keys-admin answers it, without a zero millisecond part: `2026-12-01T00:00:00Z`. */
export const instantCell = (iso: string) => iso.replace(/\.000Z$/, 'Z');

/** `100/60s`: at most 100 calls per 60-second window. */
export const rateCell = (rateLimit: KeyMetadata['rateLimit']) =>
  rateLimit ? `${rateLimit.limit}/${rateLimit.windowSeconds}s` : '-';

/** `12/10000 month`: used this period of the quota. */
export const quotaCell = (quota: KeyMetadata['quota']) =>
  quota ? `${quota.used}/${quota.limit} ${quota.period}` : '-';

/** USD with at least 2 decimals and at most 6 (the micro-dollars keys-admin counts): `$0.10`, `$0.123456`. */
export function usdCell(usd: number): string {
  const text = Math.abs(usd)
    .toFixed(6)
    .replace(/0{1,4}$/, '');
  return `${usd < 0 ? '-' : ''}$${text}`;
}

/** `$1.25/$25.00 month, $23.75 left` (spent of the limit this period, what remains), held amounts when any. */
export function budgetCell(budget: KeyMetadata['budget']): string {
  if (!budget) return '-';
  const held = budget.held > 0 ? ` (${usdCell(budget.held)} held)` : '';
  return `${usdCell(budget.spent)}/${usdCell(budget.limit)} ${budget.period}, ${usdCell(budget.remaining)} left${held}`;
}

/** As budgetCell, with the period's end (a `total` budget never resets) and the per-call hold. */
export const budgetPeriodCell = (budget: KeyUsage['budget']) =>
  budget
    ? `${budgetCell(budget)}, ${usdCell(budget.perCallHold)}/call${budget.resetsAt !== null ? ` resets ${instantCell(budget.resetsAt)}` : ''}`
    : '-';

/** `37/100 (60s) resets 2026-11-30T12:00:30Z`: used of the limit in the current window, and its end. */
export const rateWindowCell = (window: KeyUsage['rateLimit']) =>
  window
    ? `${window.used}/${window.limit} (${window.windowSeconds}s) resets ${instantCell(window.resetsAt)}`
    : '-';

/** `120/10000 month resets 2026-12-01T00:00:00Z` (a `total` quota never resets). */
export const quotaPeriodCell = (quota: KeyUsage['quota']) =>
  quota && quota.resetsAt !== null
    ? `${quotaCell(quota)} resets ${instantCell(quota.resetsAt)}`
    : quotaCell(quota);

/** `rate_limited until 2026-11-30T12:00:30Z`, `revoked` (no end), or `-` when the next call would pass. */
export function refusingCell(refusing: KeyUsage['refusing']): string {
  if (!refusing) return '-';
  return refusing.until === null
    ? refusing.reason
    : `${refusing.reason} until ${instantCell(refusing.until)}`;
}

/** `providers=openai,anthropic models=gpt-4o*`: only the lists the key has. */
export const scopesCell = (scopes: KeyMetadata['scopes']) =>
  scopes
    ? (['providers', 'models', 'operations'] as const)
        .flatMap((list) => (scopes[list] ? [`${list}=${scopes[list].join(',')}`] : []))
        .join(' ')
    : '-';

/** `157`, or `157 (16 shards)` for a key counted on shards: the sum over them. */
export const usageCell = (usageCount: number, shards: number) =>
  shards > 1 ? `${usageCount} (${shards} shards)` : String(usageCount);

export function keysTable(keys: readonly KeyMetadata[]): string {
  if (keys.length === 0) return '(no keys)';
  return table(
    [
      'KEY_ID',
      'NAME',
      'STATUS',
      'START',
      'PROJECT',
      'USAGE',
      'LAST_USED',
      'CREATED',
      'EXPIRES',
      'RATE',
      'QUOTA',
      'BUDGET',
      'SCOPES',
    ],
    keys.map((key) => [
      key.keyId,
      shown(key.name),
      key.status,
      key.start,
      key.projectBound ? `${key.projectId} (bound)` : key.projectId,
      usageCell(key.usageCount, key.shards),
      shown(key.lastUsedAt),
      key.createdAt,
      shown(key.expiresAt),
      rateCell(key.rateLimit),
      quotaCell(key.quota),
      budgetCell(key.budget),
      scopesCell(key.scopes),
    ]),
  );
}

export function usageTable(usage: readonly KeyUsage[]): string {
  if (usage.length === 0) return '(no keys)';
  return table(
    ['KEY_ID', 'NAME', 'STATUS', 'START', 'USAGE', 'LAST_USED', 'RATE_WINDOW', 'QUOTA', 'BUDGET', 'REFUSING'],
    usage.map((key) => [
      key.keyId,
      shown(key.name),
      key.status,
      key.start,
      usageCell(key.usageCount, key.shards),
      shown(key.lastUsedAt),
      rateWindowCell(key.rateLimit),
      quotaPeriodCell(key.quota),
      budgetPeriodCell(key.budget),
      refusingCell(key.refusing),
    ]),
  );
}

export function userTable(user: UserView): string {
  return table(
    ['USER_ID', 'STATUS', 'DEFAULT_PROJECT', 'CREATED'],
    [[user.userId, user.status, shown(user.defaultProjectId), user.createdAt]],
  );
}

export function render(action: AdminAction, answer: OkAnswer): string {
  const parts: string[] = [];
  // The service keeps only a hash: this is the one chance to copy the key.
  if (answer.apiKey) parts.push('API key (shown only now; store it safely):', `  ${answer.apiKey}`, '');
  if (answer.user) parts.push(userTable(answer.user));
  if (answer.key) parts.push(keysTable([answer.key]));
  if (answer.keys) parts.push(keysTable(answer.keys));
  if (answer.usage) parts.push(...(parts.length > 0 ? [''] : []), usageTable(answer.usage));
  if (answer.retired) {
    parts.push('', answer.retired.length > 0 ? `Retired (${answer.retired.length}):` : 'Retired: none');
    if (answer.retired.length > 0) parts.push(keysTable(answer.retired));
  }
  if (answer.keysUpdated !== undefined) {
    parts.push(
      '',
      answer.complete === false
        ? `Keys updated: ${answer.keysUpdated} (not complete: repeat the same command to finish)`
        : `Keys updated: ${answer.keysUpdated} (complete)`,
    );
  }
  if ((action === 'list' || action === 'usage') && answer.nextToken) {
    parts.push('', `More keys: add --next-token ${answer.nextToken}`);
  }
  return parts.join('\n');
}
