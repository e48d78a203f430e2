import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyServiceFor } from '../../../shared/wiring.js';
import { createTestTables, type TestTables } from '../../support/dynamo.js';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('smoke');
});
afterAll(async () => tables.drop());

describe('key store smoke', () => {
  it('creates a user and a key, verifies it and counts the use', async () => {
    const service = createKeyServiceFor(tables.doc, tables.names, silent);
    expect((await service.createUser({ userId: 'u1' })).ok).toBe(true);
    const created = await service.createKey({ userId: 'u1', name: 'ci' });
    if (!created.ok) throw new Error(created.error.message);
    const verified = await service.verify(created.apiKey);
    expect(verified).toEqual({ ok: true, userId: 'u1', keyId: created.key.keyId, projectId: 'default' });
    const listed = await service.listKeys({ userId: 'u1', limit: 10 });
    expect(listed.ok && listed.keys[0]?.usageCount).toBe(1);
  });
});
