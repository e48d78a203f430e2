/**
 * `list`'s opaque `nextToken`: names the last key of the page by its public id, never by
 * its hash. The store's cursor is rebuilt from the user's own reference to that key, so a
 * token is bound to the user it was issued for: another user's token (or a forged one)
 * finds no reference and is refused.
 */
import type { KeyRef, KeyStore } from './ports.js';

const TOKEN_VERSION = 'k1';
const TOKEN_PATTERN = new RegExp(`^${TOKEN_VERSION}:(key_[0-9A-Za-z]{1,64})$`);

export function encodePageToken(last: KeyRef): string {
  return Buffer.from(`${TOKEN_VERSION}:${last.keyId}`, 'utf8').toString('base64url');
}

/** The cursor a token stands for, or undefined when it is not one this user's list returned. */
export async function decodePageToken(
  keys: Pick<KeyStore, 'findRef'>,
  token: string,
  userId: string,
): Promise<KeyRef | undefined> {
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  const match = TOKEN_PATTERN.exec(decoded);
  if (!match?.[1] || encodePageToken({ keyId: match[1], keyHash: '', createdAt: '' }) !== token) {
    return undefined;
  }
  return keys.findRef(userId, match[1]);
}
