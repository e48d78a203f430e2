import { describe, expect, it } from 'vitest';
import { AUDIT_KEY_IDS_PER_LINE, createKeysAdmin } from '../../../../shared/domain/admin/keys-admin.js';
import type { KeyService } from '../../../../shared/domain/keys/service.js';
import { recordingLogger } from '../../../support/logs.js';

/** A key service whose every method fails as an unreachable DynamoDB would. */
function failingService(): KeyService {
  const fail = async () => {
    throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'NetworkingError' });
  };
  return {
    createUser: fail,
    setUserStatus: fail,
    createKey: fail,
    updateKey: fail,
    verify: fail,
    check: fail,
    listKeys: fail,
    getKey: fail,
    keyUsage: fail,
    revokeKey: fail,
    rotate: fail,
  };
}

describe('keys-admin on an unexpected failure', () => {
  it('throws, as SPEC §6 says, and still writes the audit line of the attempt', async () => {
    const log = recordingLogger();
    const keysAdmin = createKeysAdmin({ keys: failingService(), logger: log.logger });

    const outcome = keysAdmin({ action: 'revoke', userId: 'u-1', keyId: 'key_abc' }, 'alice');

    await expect(outcome).rejects.toThrow('ECONNREFUSED');
    expect(log.records).toEqual([
      {
        level: 'error',
        message: 'audit',
        attributes: {
          actor: 'alice',
          action: 'revoke',
          user_id: 'u-1',
          key_ids: ['key_abc'],
          outcome: 'error',
          error_name: 'NetworkingError',
        },
      },
    ]);
  });
});

describe('keys-admin on suspension', () => {
  it('passes the invocation’s remaining time down and audits how many keys were stamped and whether it finished', async () => {
    const log = recordingLogger();
    const seen: unknown[] = [];
    const keys = {
      ...failingService(),
      setUserStatus: async (input: Parameters<KeyService['setUserStatus']>[0]) => {
        seen.push({ ...input, timeLeft: input.timeLeftMs?.() });
        return {
          ok: true as const,
          user: { userId: 'u-1', status: 'suspended' as const, defaultProjectId: null, createdAt: 't' },
          keysUpdated: 7,
          complete: false,
        };
      },
    };
    const keysAdmin = createKeysAdmin({ keys, logger: log.logger });

    const answer = await keysAdmin({ action: 'suspend-user', userId: 'u-1' }, 'alice', () => 12_345);

    expect(answer).toMatchObject({ ok: true, keysUpdated: 7, complete: false });
    expect(seen).toEqual([
      { userId: 'u-1', suspended: true, timeLeftMs: expect.any(Function), timeLeft: 12_345 },
    ]);
    expect(log.records.at(-1)?.attributes).toMatchObject({
      action: 'suspend-user',
      outcome: 'ok',
      keys_updated: 7,
      complete: false,
    });
  });
});

describe('keys-admin audit of a large rotation', () => {
  it('writes every retired key id, split over lines small enough for CloudWatch Logs', async () => {
    const log = recordingLogger();
    const metadata = (keyId: string) => ({ keyId });
    const retired = Array.from({ length: AUDIT_KEY_IDS_PER_LINE * 2 + 1 }, (_, index) =>
      metadata(`key_old${index}`),
    );
    const keys = {
      ...failingService(),
      rotate: async () => ({ ok: true as const, apiKey: 'x', key: metadata('key_new'), retired }),
    } as unknown as KeyService;
    const keysAdmin = createKeysAdmin({ keys, logger: log.logger });

    await keysAdmin({ action: 'rotate', userId: 'u-1' }, 'alice');

    const lines = log.records.filter((record) => record.message === 'audit');
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => line.attributes?.part)).toEqual([1, 2, 3]);
    const logged = lines.flatMap((line) => line.attributes?.key_ids as string[]);
    expect(new Set(logged).size).toBe(retired.length + 1);
    for (const line of lines) {
      expect(JSON.stringify(line).length).toBeLessThan(64 * 1024);
      expect(line.attributes).toMatchObject({ parts: 3, key_ids_total: retired.length + 1, outcome: 'ok' });
    }
  });
});
