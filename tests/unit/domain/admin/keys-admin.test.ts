import { describe, expect, it } from 'vitest';
import { createKeysAdmin } from '../../../../shared/domain/admin/keys-admin.js';
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
    verify: fail,
    listKeys: fail,
    getKey: fail,
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
