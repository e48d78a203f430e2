/**
 * A key's limits and scopes as an operator manages them: the ops CLI (a separate process,
 * over the local Invoke API) creates a key with --rate-limit, --quota and scopes, lists them
 * with the quota's use after a call over HTTPS, and `update` changes and clears them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import type { KeyMetadata } from '../../shared/domain/keys/metadata.js';
import { runCli, runCliJson } from './support/cli.js';
import { CHAT_BODY, callApi, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

async function newUser(): Promise<string> {
  const userId = `limits-${randomUUID().slice(0, 8)}`;
  const created = await runCli(['create-user', '--user', userId], stack.lambdaUrl);
  expect(created.code, created.stderr).toBe(0);
  return userId;
}

/** The one data row of a single-key table, split on its column gaps (the SCOPES cell keeps its spaces). */
function columnsOf(stdout: string): Record<string, string> {
  const lines = stdout.trimEnd().split('\n');
  const headerAt = lines.findIndex((line) => line.startsWith('KEY_ID'));
  const header = lines[headerAt] ?? '';
  const row = lines[headerAt + 1] ?? '';
  const names = header.split(/ {2,}/);
  const starts = names.map((name) => header.indexOf(name));
  return Object.fromEntries(
    names.map((name, index) => [name, row.slice(starts[index], starts[index + 1]).trim()]),
  );
}

describe('limits and scopes through the ops CLI', () => {
  it('creates a key with a rate limit, a quota and scopes, lists its use, updates and clears them', async () => {
    const userId = await newUser();

    const created = await runCli(
      [
        'create',
        ...['--user', userId, '--name', 'agent'],
        ...['--rate-limit', '100/60', '--quota', '10000/month'],
        ...['--providers', 'openai,anthropic', '--models', 'gpt-4o*', '--operations', 'chat'],
      ],
      stack.lambdaUrl,
    );
    expect(created.code, created.stderr).toBe(0);
    const apiKey = /kg_test_[0-9A-Za-z]{49}/.exec(created.stdout)?.[0] ?? '';
    const keyId = columnsOf(created.stdout).KEY_ID ?? '';
    expect(columnsOf(created.stdout)).toMatchObject({
      RATE: '100/60s',
      QUOTA: '0/10000 month',
      SCOPES: 'providers=openai,anthropic models=gpt-4o* operations=chat',
    });

    const call = await callApi(stack, { headers: jsonHeaders(apiKey), body: JSON.stringify(CHAT_BODY) });
    const listed = await runCli(['list', '--user', userId], stack.lambdaUrl);

    expect(call.status).toBe(200);
    expect(listed.code, listed.stderr).toBe(0);
    expect(columnsOf(listed.stdout)).toMatchObject({
      KEY_ID: keyId,
      RATE: '100/60s',
      QUOTA: '1/10000 month',
    });

    const updated = await runCli(
      ['update', '--user', userId, '--key', keyId, '--quota', '20000/month', '--clear-rate-limit'],
      stack.lambdaUrl,
    );

    expect(updated.code, updated.stderr).toBe(0);
    // Only the limit changed: the month's use is kept.
    expect(columnsOf(updated.stdout)).toMatchObject({ KEY_ID: keyId, RATE: '-', QUOTA: '1/20000 month' });
    const [key] = (await runCliJson<{ keys: KeyMetadata[] }>(['list', '--user', userId], stack.lambdaUrl))
      .keys;
    expect(key).toMatchObject({
      keyId,
      name: 'agent',
      rateLimit: null,
      quota: { limit: 20_000, period: 'month', used: 1 },
      scopes: { providers: ['openai', 'anthropic'], models: ['gpt-4o*'], operations: ['chat'] },
    });

    const cleared = await runCliJson<{ key: KeyMetadata }>(
      ['update', '--user', userId, '--key', keyId, '--clear-quota', '--clear-scopes', '--clear-name'],
      stack.lambdaUrl,
    );
    expect(cleared.key).toMatchObject({ name: null, rateLimit: null, quota: null, scopes: null });
  });

  it('refuses an update without a change with the usage text (exit 2), and a bad value with the function answer (exit 1)', async () => {
    const userId = await newUser();
    const { key } = await runCliJson<{ key: KeyMetadata }>(['create', '--user', userId], stack.lambdaUrl);

    const nothing = await runCli(['update', '--user', userId, '--key', key.keyId], stack.lambdaUrl);
    const tooLong = await runCli(
      ['update', '--user', userId, '--key', key.keyId, '--rate-limit', '10/2d'],
      stack.lambdaUrl,
    );

    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('update needs at least one change');
    expect(nothing.stderr).toContain('Usage: npm run keys -- <action> [flags]');
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/error invalid_event: .*rateLimit\.windowSeconds/);
  });
});
