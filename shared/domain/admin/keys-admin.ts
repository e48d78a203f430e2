/** keys-admin's domain: validates an ops event, runs it against the key service, audits it (SPEC §6). */

import type { KeyService } from '../keys/service.js';
import type { LogSink } from '../ports.js';
import { issuesToDetails } from '../validation.js';
import { type AdminEvent, adminEventSchema, DEFAULT_LIST_LIMIT } from './events.js';

export type AdminAnswer =
  | { ok: true; [field: string]: unknown }
  | { ok: false; error: { code: string; message: string } };

export interface KeysAdminDeps {
  keys: KeyService;
  logger: LogSink;
}

async function run(keys: KeyService, event: AdminEvent, timeLeftMs?: () => number): Promise<AdminAnswer> {
  switch (event.action) {
    case 'create-user':
      return keys.createUser(event);
    case 'create':
      return keys.createKey(event);
    case 'update':
      return keys.updateKey(event);
    case 'list':
      return keys.listKeys({ ...event, limit: event.limit ?? DEFAULT_LIST_LIMIT });
    case 'get':
      return keys.getKey(event);
    case 'usage':
      return keys.keyUsage({ ...event, limit: event.limit ?? DEFAULT_LIST_LIMIT });
    case 'revoke':
      return keys.revokeKey(event);
    case 'rotate':
      return keys.rotate(event);
    case 'suspend-user':
    case 'reactivate-user':
      return keys.setUserStatus({
        userId: event.userId,
        suspended: event.action === 'suspend-user',
        ...(timeLeftMs ? { timeLeftMs } : {}),
      });
  }
}

function keyIdsOf(answer: AdminAnswer, event: AdminEvent): string[] {
  const ids = new Set<string>();
  if ('keyId' in event && event.keyId) ids.add(event.keyId);
  if (answer.ok) {
    const key = answer.key as { keyId?: string } | undefined;
    if (key?.keyId) ids.add(key.keyId);
    for (const retired of (answer.retired as { keyId: string }[] | undefined) ?? []) ids.add(retired.keyId);
  }
  return [...ids];
}

/**
 * Key ids per audit line. A rotation of thousands of keys would otherwise make one line
 * larger than a CloudWatch Logs event may be (256 KB); it is written as several lines
 * (`part`, `parts`) instead, so every key id stays on record.
 */
export const AUDIT_KEY_IDS_PER_LINE = 500;

export function createKeysAdmin(deps: KeysAdminDeps) {
  /** `timeLeftMs`: the invocation's remaining time, so long actions stop in time and answer `complete: false`. */
  return async function keysAdmin(
    event: unknown,
    actor: string,
    timeLeftMs?: () => number,
  ): Promise<AdminAnswer> {
    const parsed = adminEventSchema.safeParse(event, { reportInput: true });
    if (!parsed.success) {
      const problems = issuesToDetails(parsed.error.issues)
        .map((detail) => (detail.path ? `${detail.path}: ${detail.message}` : detail.message))
        .join('; ');
      deps.logger.warn('audit', { actor, action: 'invalid', outcome: 'invalid_event' });
      return { ok: false, error: { code: 'invalid_event', message: `Invalid event: ${problems}` } };
    }
    let answer: AdminAnswer;
    try {
      answer = await run(deps.keys, parsed.data, timeLeftMs);
    } catch (error) {
      // Unexpected failures throw (SPEC §6), but the attempt is still audited.
      deps.logger.error('audit', {
        actor,
        action: parsed.data.action,
        user_id: parsed.data.userId,
        key_ids: 'keyId' in parsed.data && parsed.data.keyId ? [parsed.data.keyId] : [],
        outcome: 'error',
        error_name: error instanceof Error ? error.name : 'unknown',
      });
      throw error;
    }
    const keyIds = keyIdsOf(answer, parsed.data);
    const parts = Math.max(1, Math.ceil(keyIds.length / AUDIT_KEY_IDS_PER_LINE));
    for (let part = 1; part <= parts; part += 1) {
      deps.logger.info('audit', {
        actor,
        action: parsed.data.action,
        user_id: parsed.data.userId,
        key_ids: keyIds.slice((part - 1) * AUDIT_KEY_IDS_PER_LINE, part * AUDIT_KEY_IDS_PER_LINE),
        outcome: answer.ok ? 'ok' : answer.error.code,
        ...(answer.ok && typeof answer.keysUpdated === 'number'
          ? { keys_updated: answer.keysUpdated, complete: answer.complete }
          : {}),
        ...(parts > 1 ? { part, parts, key_ids_total: keyIds.length } : {}),
      });
    }
    return answer;
  };
}
