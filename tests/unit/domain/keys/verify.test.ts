import { describe, expect, it } from 'vitest';
import { generateKey, type KeyEnvironment } from '../../../../shared/domain/keys/format.js';
import type { ApiKeyItem } from '../../../../shared/domain/keys/model.js';
import type { KeyVerificationStore, VerifyWrite } from '../../../../shared/domain/keys/ports.js';
import { createKeyVerifier, refusalReasonOf } from '../../../../shared/domain/keys/verify.js';

/** A store that records every verify write and answers with `answer`. */
function recordingStore(answer: VerifyWrite): KeyVerificationStore & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async verifyAndCount(keyHash) {
      calls.push(keyHash);
      return answer;
    },
    async readShards() {
      return [];
    },
    async readKey(keyHash) {
      calls.push(`read:${keyHash}`);
      return answer.ok ? answer.item : 'current' in answer ? answer.current : undefined;
    },
  };
}

const ITEM: ApiKeyItem = {
  key_hash: 'h',
  hash_version: 1,
  key_id: 'key_1',
  user_id: 'u1',
  project_id: 'p1',
  status: 'active',
  start: 'kg_test_AbCd',
  created_at: '2026-01-01T00:00:00.000Z',
  usage_count: 1,
};

describe('key verification', () => {
  it.each<[KeyEnvironment, KeyEnvironment]>([
    ['test', 'live'],
    ['live', 'test'],
  ])('on a %s stage refuses a well-formed %s key without a database call', async (stage, other) => {
    const store = recordingStore({ ok: true, item: ITEM });
    const verifier = createKeyVerifier({ keys: store, environment: stage });

    expect(await verifier.verify(generateKey(other).key)).toEqual({ ok: false, reason: 'other_environment' });
    expect(store.calls).toEqual([]);
  });

  it('refuses garbage as malformed without a database call', async () => {
    const store = recordingStore({ ok: true, item: ITEM });
    const verifier = createKeyVerifier({ keys: store, environment: 'test' });

    for (const candidate of ['', 'kg_test_short', `sk-${'A'.repeat(49)}`, null, 42]) {
      expect(await verifier.verify(candidate)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(store.calls).toEqual([]);
  });

  it("admits a key of the stage's environment with one write, answering from the written item", async () => {
    const store = recordingStore({ ok: true, item: ITEM });
    const { key, hash } = generateKey('test');

    expect(await createKeyVerifier({ keys: store, environment: 'test' }).verify(key)).toEqual({
      ok: true,
      userId: 'u1',
      keyId: 'key_1',
      projectId: 'p1',
      projectBound: false,
      limits: {},
    });
    expect(store.calls).toEqual([hash]);
  });

  it('reads the reason of a refused write from the item as it was', () => {
    expect(refusalReasonOf(undefined)).toBe('unknown');
    expect(refusalReasonOf({ ...ITEM, status: 'revoked', user_suspended: true })).toBe('revoked');
    expect(refusalReasonOf({ ...ITEM, user_suspended: true })).toBe('suspended');
    expect(refusalReasonOf({ ...ITEM, expires_at: '2020-01-01T00:00:00Z' })).toBe('expired');
    expect(refusalReasonOf(ITEM)).toBeUndefined();
  });
});
