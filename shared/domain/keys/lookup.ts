/**
 * A user's keys by id and all of them, through the UserKeys references: strongly
 * consistent reads, no dependence on the eventually consistent user index.
 */
import type { ApiKeyItem } from './model.js';
import type { KeyRef, KeyStore } from './ports.js';

/** References per Query page (each ~150 bytes, so a page stays far below 1 MB). */
const REF_PAGE_SIZE = 1000;

export function createKeyLookup(
  keys: Pick<KeyStore, 'findRef' | 'findByHash' | 'findByHashes' | 'listRefs'>,
) {
  return {
    async findKey(userId: string, keyId: string): Promise<ApiKeyItem | undefined> {
      const ref = await keys.findRef(userId, keyId);
      if (!ref) return undefined;
      const item = await keys.findByHash(ref.keyHash);
      return item?.user_id === userId && item.key_id === keyId ? item : undefined;
    },

    /** Every reference of the user, in key id order. */
    async refsOf(userId: string): Promise<KeyRef[]> {
      const refs: KeyRef[] = [];
      let after: string | undefined;
      do {
        const page = await keys.listRefs(userId, REF_PAGE_SIZE, after);
        refs.push(...page.refs);
        after = page.lastKeyId;
      } while (after);
      return refs;
    },

    /** Every key item of the user (strongly consistent). */
    async keysOf(userId: string): Promise<ApiKeyItem[]> {
      const refs = await this.refsOf(userId);
      const items = await keys.findByHashes(refs.map((ref) => ref.keyHash));
      return items.filter((item) => item.user_id === userId);
    },
  };
}

export type KeyLookup = ReturnType<typeof createKeyLookup>;
