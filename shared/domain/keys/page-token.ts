/**
 * `list`'s opaque `nextToken`: the store's cursor for the next page, bound to the user it
 * was issued for. An unreadable or foreign token is a refusal, not a failure.
 */

/** The attributes of the user index's cursor: table key + index keys, all strings. */
const CURSOR_ATTRIBUTES = ['created_at', 'key_hash', 'user_id'];

export function encodePageToken(cursor: Record<string, string>): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

export function decodePageToken(token: string, userId: string): Record<string, string> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      parsed !== null &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      (parsed as Record<string, unknown>).user_id === userId &&
      // Anything else would make the store's query fail (a throw, not a refusal).
      Object.keys(parsed).sort().join() === CURSOR_ATTRIBUTES.join() &&
      Object.values(parsed).every((value) => typeof value === 'string' && value.length > 0)
    ) {
      return parsed as Record<string, string>;
    }
  } catch {
    // fall through: an unreadable token is a refusal, not a failure
  }
  return undefined;
}
