/**
 * A key's life as an operator and a caller see it: the ops CLI (a separate process, over the
 * local Invoke API) creates users and keys, lists usage, revokes and rotates; calls go over
 * real HTTPS to the local API with the generated certificate.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import type { KeyMetadata } from '../../shared/domain/keys/metadata.js';
import { runCli, runCliJson } from './support/cli.js';
import { CHAT_BODY, callApi, expectEnvelope, expectSecurityHeaders, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

interface Issued {
  userId: string;
  apiKey: string;
  keyId: string;
}

const body = JSON.stringify(CHAT_BODY);

async function newUserWithKey(label: string): Promise<Issued> {
  const userId = `${label}-${randomUUID().slice(0, 8)}`;
  const user = await runCli(['create-user', '--user', userId], stack.lambdaUrl);
  expect(user.code, user.stderr).toBe(0);
  const created = await runCliJson<{ apiKey: string; key: KeyMetadata }>(
    ['create', '--user', userId, '--name', 'ci'],
    stack.lambdaUrl,
  );
  return { userId, apiKey: created.apiKey, keyId: created.key.keyId };
}

async function listKeys(userId: string): Promise<KeyMetadata[]> {
  return (await runCliJson<{ keys: KeyMetadata[] }>(['list', '--user', userId], stack.lambdaUrl)).keys;
}

const callWith = (headers: Record<string, string>) =>
  callApi(stack, { headers: { 'Content-Type': 'application/json', ...headers }, body });

describe('ops CLI', () => {
  it('creates a user and a key, printing the key once in a readable table', async () => {
    const userId = `cli-${randomUUID().slice(0, 8)}`;

    const user = await runCli(['create-user', '--user', userId, '--project', 'proj-a'], stack.lambdaUrl);
    const key = await runCli(['create', '--user', userId, '--name', 'ci'], stack.lambdaUrl);

    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toMatch(new RegExp(`${userId}\\s+active\\s+proj-a`));
    expect(key.code, key.stderr).toBe(0);
    expect(key.stdout).toMatch(/API key \(shown only now; store it safely\):\n {2}kg_test_[0-9A-Za-z]{49}\n/);
    expect(key.stdout).toMatch(/KEY_ID\s+NAME\s+STATUS\s+START\s+PROJECT\s+USAGE/);
    expect(key.stdout).toMatch(/key_[0-9A-Za-z]+\s+ci\s+active\s+kg_test_[0-9A-Za-z]{4}\s+proj-a\s+0/);
  });

  it('exits 1 with the refusal on stderr when keys-admin answers ok:false', async () => {
    const { userId } = await newUserWithKey('dup');

    const again = await runCli(['create-user', '--user', userId], stack.lambdaUrl);

    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error user_exists');
  });

  it('answers bad flags with the usage text and exit code 2', async () => {
    const unknownFlag = await runCli(['list', '--user', 'u1', '--colour', 'red'], stack.lambdaUrl);
    const missingFlag = await runCli(['revoke', '--user', 'u1'], stack.lambdaUrl);
    const wrongFlag = await runCli(['list', '--user', 'u1', '--grace', '5'], stack.lambdaUrl);
    const noAction = await runCli([], stack.lambdaUrl);

    for (const run of [unknownFlag, missingFlag, wrongFlag, noAction]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('Usage: npm run keys -- <action> [flags]');
    }
    expect(missingFlag.stderr).toContain('revoke needs --key');
    expect(wrongFlag.stderr).toContain('list does not take --grace');
  });
});

describe('calling the API with a key', () => {
  let issued: Issued;

  beforeAll(async () => {
    issued = await newUserWithKey('caller');
  });

  it('accepts Authorization: Bearer <key>', async () => {
    const answer = await callWith({ Authorization: `Bearer ${issued.apiKey}` });

    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ success: true, decision: { outcome: 'approved' } });
    expectSecurityHeaders(answer);
    expect((answer.json as { request_id: string }).request_id).toBe(answer.headers['x-request-id']);
  });

  it('accepts X-API-Key: <key>', async () => {
    const answer = await callWith({ 'X-API-Key': issued.apiKey });

    expect(answer.status).toBe(200);
  });

  it('accepts header names in any spelling (lower and upper case)', async () => {
    const lower = await callWith({ authorization: `bearer ${issued.apiKey}` });
    const upper = await callWith({ 'X-API-KEY': issued.apiKey });

    expect([lower.status, upper.status]).toEqual([200, 200]);
  });

  it('accepts both headers when they carry the same key', async () => {
    const answer = await callWith({ Authorization: `Bearer ${issued.apiKey}`, 'X-API-Key': issued.apiKey });

    expect(answer.status).toBe(200);
  });

  it('refuses two different keys with 401', async () => {
    const other = await newUserWithKey('other');

    const answer = await callWith({ Authorization: `Bearer ${issued.apiKey}`, 'X-API-Key': other.apiKey });

    expectEnvelope(answer, 401, 'unauthorized');
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });
});

describe('usage counting', () => {
  it('counts every authorized call, replays and 4xx after authorization included', async () => {
    const issued = await newUserWithKey('usage');
    const headers = jsonHeaders(issued.apiKey, { 'Idempotency-Key': `usage-${randomUUID()}` });

    await callApi(stack, { headers, body });
    await callApi(stack, { headers, body }); // replay
    await callApi(stack, { headers: jsonHeaders(issued.apiKey), body: '{not json' }); // 400
    await callApi(stack, { method: 'GET', headers: jsonHeaders(issued.apiKey) }); // 405
    await callApi(stack, { headers: jsonHeaders(), body }); // no key: not counted
    const [key] = await listKeys(issued.userId);

    expect(key?.usageCount).toBe(4);
    expect(key?.lastUsedAt).not.toBeNull();
  });
});

describe('revocation', () => {
  it('refuses a revoked key on the very next call with "API key has been revoked"', async () => {
    const issued = await newUserWithKey('revoke');
    const before = await callWith({ Authorization: `Bearer ${issued.apiKey}` });

    const revoke = await runCli(
      ['revoke', '--user', issued.userId, '--key', issued.keyId, '--reason', 'leaked in a log'],
      stack.lambdaUrl,
    );
    const after = await callWith({ Authorization: `Bearer ${issued.apiKey}` });

    expect(before.status).toBe(200);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toMatch(/revoked/);
    const envelope = expectEnvelope(after, 401, 'unauthorized');
    expect(envelope.error.message).toBe('API key has been revoked.');
    expect(after.headers['www-authenticate']).toBe('Bearer');
  });
});

describe('rotation', () => {
  it('with grace 0 retires the old key at once and issues a working new one', async () => {
    const issued = await newUserWithKey('rotate0');

    const rotated = await runCliJson<{ apiKey: string; retired: KeyMetadata[] }>(
      ['rotate', '--user', issued.userId, '--grace', '0'],
      stack.lambdaUrl,
    );
    const oldKey = await callWith({ Authorization: `Bearer ${issued.apiKey}` });
    const newKey = await callWith({ Authorization: `Bearer ${rotated.apiKey}` });

    expect(rotated.retired.map((key) => key.keyId)).toEqual([issued.keyId]);
    expect(expectEnvelope(oldKey, 401, 'unauthorized').error.message).toBe('API key has been revoked.');
    expect(newKey.status).toBe(200);
  });

  it('with a grace period keeps the old key working until it ends', async () => {
    const issued = await newUserWithKey('rotate-grace');

    const rotated = await runCliJson<{ apiKey: string; retired: KeyMetadata[] }>(
      ['rotate', '--user', issued.userId, '--grace', '3600'],
      stack.lambdaUrl,
    );
    const oldKey = await callWith({ 'X-API-Key': issued.apiKey });
    const newKey = await callWith({ 'X-API-Key': rotated.apiKey });
    const keys = await listKeys(issued.userId);

    expect(oldKey.status).toBe(200);
    expect(newKey.status).toBe(200);
    const expiresAt = Date.parse(rotated.retired[0]?.expiresAt ?? '');
    expect(expiresAt - Date.now()).toBeGreaterThan(3500_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(keys).toHaveLength(2);
  });
});

describe('suspension', () => {
  it('refuses every key of a suspended user on the next call, blocks new keys, and reactivation restores them', async () => {
    const issued = await newUserWithKey('suspend');
    const second = await runCliJson<{ apiKey: string }>(['create', '--user', issued.userId], stack.lambdaUrl);

    const suspend = await runCli(['suspend-user', '--user', issued.userId], stack.lambdaUrl);
    const refused = await Promise.all(
      [issued.apiKey, second.apiKey].map((apiKey) => callWith({ Authorization: `Bearer ${apiKey}` })),
    );
    const blocked = await runCli(['create', '--user', issued.userId], stack.lambdaUrl);
    const again = await runCliJson<{ keysUpdated: number; complete: boolean }>(
      ['suspend-user', '--user', issued.userId],
      stack.lambdaUrl,
    );
    const reactivate = await runCliJson<{ keysUpdated: number; complete: boolean }>(
      ['reactivate-user', '--user', issued.userId],
      stack.lambdaUrl,
    );
    const admitted = await callWith({ Authorization: `Bearer ${second.apiKey}` });

    expect(suspend.code, suspend.stderr).toBe(0);
    expect(suspend.stdout).toMatch(/suspended/);
    expect(suspend.stdout).toMatch(/Keys updated: 2 \(complete\)/);
    for (const answer of refused) {
      expect(expectEnvelope(answer, 401, 'unauthorized').error.message).toMatch(/suspended/);
    }
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/user_suspended/);
    // A repeat is harmless: nothing left to stamp.
    expect(again).toMatchObject({ keysUpdated: 0, complete: true });
    expect(reactivate).toMatchObject({ keysUpdated: 2, complete: true });
    expect(admitted.status).toBe(200);
  });
});
