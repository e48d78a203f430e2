import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';
import { expectOk, keyStoreFor, uniqueUserId } from '../../../support/keystore.js';

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('keys-refs');
});
afterAll(async () => tables.drop());

/** Makes every Query of the user_id GSI fail, as if it lagged or was unavailable. */
function withoutIndexQueries(): () => void {
  const send = tables.doc.send.bind(tables.doc);
  tables.doc.send = ((command: unknown, ...rest: unknown[]) => {
    if (command instanceof QueryCommand && command.input.IndexName)
      return Promise.reject(new Error('the GSI must not be needed here'));
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof tables.doc.send;
  return () => {
    tables.doc.send = send;
  };
}

describe('key references in UserKeys', () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
  });

  it('records each created key under its user in the same transaction, and never writes the user item', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const before = await store.users.find(userId);
    const first = expectOk(await store.service.createKey({ userId }));
    const second = expectOk(await store.service.createKey({ userId }));

    const refs = await store.keys.listRefs(userId, 10);
    const user = await store.users.find(userId);

    expect(refs.refs.map((ref) => ref.keyId).sort()).toEqual([first.key.keyId, second.key.keyId].sort());
    expect(refs.refs.every((ref) => /^[0-9a-f]{64}$/.test(ref.keyHash))).toBe(true);
    expect(user).toEqual(before);
    const { Item } = await tables.doc.send(
      new GetCommand({ TableName: tables.names.userKeys, Key: { user_id: userId, key_id: first.key.keyId } }),
    );
    expect(Object.keys(Item ?? {}).sort()).toEqual(['created_at', 'key_hash', 'key_id', 'user_id']);
  });

  it('gets, revokes, rotates by key id and suspends without querying the eventually consistent GSI', async () => {
    const store = keyStoreFor(tables);
    const userId = uniqueUserId();
    expectOk(await store.service.createUser({ userId }));
    const created = expectOk(await store.service.createKey({ userId }));
    const other = expectOk(await store.service.createKey({ userId }));
    restore = withoutIndexQueries();

    expect(expectOk(await store.service.getKey({ userId, keyId: created.key.keyId })).key.keyId).toBe(
      created.key.keyId,
    );
    expect(expectOk(await store.service.revokeKey({ userId, keyId: created.key.keyId })).key.status).toBe(
      'revoked',
    );
    const rotated = expectOk(await store.service.rotate({ userId, keyId: other.key.keyId }));
    expect(rotated.retired.map((key) => key.keyId)).toEqual([other.key.keyId]);
    expectOk(await store.service.setUserStatus({ userId: userId, suspended: true }));

    expect(await store.service.verify(rotated.apiKey)).toMatchObject({ ok: false, reason: 'suspended' });
  });

  it('does not find another user’s key by its id', async () => {
    const store = keyStoreFor(tables);
    const owner = uniqueUserId();
    const stranger = uniqueUserId();
    expectOk(await store.service.createUser({ userId: owner }));
    expectOk(await store.service.createUser({ userId: stranger }));
    const created = expectOk(await store.service.createKey({ userId: owner }));

    const answer = await store.service.getKey({ userId: stranger, keyId: created.key.keyId });

    expect(answer).toMatchObject({ ok: false, error: { code: 'key_not_found' } });
  });
});
