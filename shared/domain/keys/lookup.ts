/**
 * A user's keys by id, through the user's own key references (strongly consistent reads,
 * no dependence on the eventually consistent user index).
 */
import { type ApiKeyItem, keyRefsOf, type UserItem } from './model.js';
import type { KeyStore } from './ports.js';

export function createKeyLookup(keys: Pick<KeyStore, 'findByHash' | 'findByHashes'>) {
  return {
    async findKey(user: UserItem | undefined, keyId: string): Promise<ApiKeyItem | undefined> {
      const keyHash = user ? keyRefsOf(user).get(keyId) : undefined;
      if (!user || !keyHash) return undefined;
      const item = await keys.findByHash(keyHash);
      return item?.user_id === user.user_id && item.key_id === keyId ? item : undefined;
    },

    async keysOf(user: UserItem): Promise<ApiKeyItem[]> {
      return keys.findByHashes([...keyRefsOf(user).values()]);
    },
  };
}

export type KeyLookup = ReturnType<typeof createKeyLookup>;
