/** The key domain's expected refusals: values (`{ok:false, error}`), never exceptions. */

export type RefusalCode =
  | 'user_not_found'
  | 'user_suspended'
  | 'user_exists'
  | 'key_not_found'
  | 'key_not_active'
  | 'invalid_expiry'
  | 'invalid_next_token'
  | 'key_generation_failed'
  | 'conflict'
  | 'user_status_changed';

export interface Refusal {
  ok: false;
  error: { code: RefusalCode; message: string };
}

export type Result<T> = ({ ok: true } & T) | Refusal;

export function refuse(code: RefusalCode, message: string): Refusal {
  return { ok: false, error: { code, message } };
}

export const USER_REFUSALS = {
  missing: () => refuse('user_not_found', 'No such user; create it first with create-user.'),
  suspended: () => refuse('user_suspended', 'The user is suspended; no keys can be issued for it.'),
} as const;

export function keyNotFound(userId: string, keyId: string): Refusal {
  return refuse('key_not_found', `User "${userId}" has no key "${keyId}".`);
}

/** Concurrent writes to the same user or key kept cancelling each other (retried first). */
export const CONFLICT_REFUSAL = (): Refusal =>
  refuse('conflict', 'Concurrent changes to this user or key kept conflicting; repeat the action.');
