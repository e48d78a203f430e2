/**
 * A user's keys by id and all of them, through the UserKeys references: strongly
 * consistent reads, no dependence on the eventually consistent user index. For the views, a
 * sharded key with its shards' counters summed (only sharded keys cost the extra read).
 */
import { countedItemOf } from './metadata.js';
import type { ApiKeyItem } from './model.js';
import type { KeyRef, KeyStore } from './ports.js';
import { shardCountOf } from './shards.js';

/** References per Query page (each ~150 bytes, so a page stays far below 1 MB). */
const REF_PAGE_SIZE = 1000;

export function createKeyLookup(
  keys: Pick<KeyStore, 'findRef' | 'findByHash' | 'findByHashes' | 'listRefs' | 'findShards'>,
) {
  return {
    /**
     * `items` as the views count them at `now` (metadata.ts `countedItemOf`): each sharded key's
     * shards read strongly consistently; a key counted on its own item is returned as it is.
     */
    async counted(items: readonly ApiKeyItem[], now: Date): Promise<ApiKeyItem[]> {
      return Promise.all(
        items.map(async (item) => {
          const shards = shardCountOf(item);
          return shards < 2 ? item : countedItemOf(item, await keys.findShards(item.key_hash, shards), now);
        }),
      );
    },

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
