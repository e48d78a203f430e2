/**
 * A key's limits and scopes as an operator manages them: the ops CLI (a separate process,
 * over the local Invoke API) creates a key with --rate-limit, --quota and scopes, lists them
 * with the quota's use after a call over HTTPS, and `update` changes and clears them. `usage`
 * then shows the window the HTTPS calls used and why the next one is refused; with stdout
 * and stderr piped (not a terminal) the CLI writes no progress and ends with a plain line.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import type { KeyMetadata } from '../../shared/domain/keys/metadata.js';
import type { KeyUsage } from '../../shared/domain/keys/usage.js';
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

/** The key rows of a key table, each cell by its header (cut at the header's columns, so cells keep their spaces). */
function rowsOf(stdout: string): Record<string, string>[] {
  const lines = stdout.trimEnd().split('\n');
  const headerAt = lines.findIndex((line) => line.startsWith('KEY_ID'));
  const header = lines[headerAt] ?? '';
  const names = header.split(/ {2,}/);
  const starts = names.map((name) => header.indexOf(name));
  return lines
    .slice(headerAt + 1)
    .filter((line) => line.startsWith('key_'))
    .map((row) =>
      Object.fromEntries(
        names.map((name, index) => [name, row.slice(starts[index], starts[index + 1]).trim()]),
      ),
    );
}

/** The one data row of a single-key table. */
const columnsOf = (stdout: string): Record<string, string> => rowsOf(stdout)[0] ?? {};

/** Waits, if needed, until the current fixed window has `needMs` left, so a test's calls share one window. */
async function roomInWindow(windowSeconds: number, needMs: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

/** An instant as the CLI's tables print it. */
const shownInstant = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Whether `text` holds a progress control character: a carriage return or an escape sequence. */
const hasControl = (text: string) => text.includes('\r') || text.includes('\u001b');

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

describe('budgets through the ops CLI', () => {
  it('creates a key with --budget and --hold, shows what its HTTPS call spent, changes and clears it', async () => {
    const userId = await newUser();

    const created = await runCli(
      ['create', '--user', userId, '--name', 'agent', '--budget', '5/day', '--hold', '0.10'],
      stack.lambdaUrl,
    );
    expect(created.code, created.stderr).toBe(0);
    const apiKey = /kg_test_[0-9A-Za-z]{49}/.exec(created.stdout)?.[0] ?? '';
    const keyId = columnsOf(created.stdout).KEY_ID ?? '';
    expect(columnsOf(created.stdout)).toMatchObject({ BUDGET: '$0.00/$5.00 day, $5.00 left' });

    const call = await callApi(stack, { headers: jsonHeaders(apiKey), body: JSON.stringify(CHAT_BODY) });
    expect(call.status).toBe(200);
    const [key] = (await runCliJson<{ keys: KeyMetadata[] }>(['list', '--user', userId], stack.lambdaUrl))
      .keys;
    const spent = key?.budget?.spent ?? 0;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.1);
    expect(key?.budget).toMatchObject({ limit: 5, period: 'day', perCallHold: 0.1, held: 0 });
    expect(key?.budget?.remaining).toBeCloseTo(5 - spent, 6);

    const changed = await runCli(
      ['update', '--user', userId, '--key', keyId, '--budget', '25/month'],
      stack.lambdaUrl,
    );
    expect(changed.code, changed.stderr).toBe(0);
    // Another period: counting restarts.
    expect(columnsOf(changed.stdout)).toMatchObject({ BUDGET: '$0.00/$25.00 month, $25.00 left' });
    const badHold = await runCli(
      ['update', '--user', userId, '--key', keyId, '--budget', '1/day', '--hold', '2'],
      stack.lambdaUrl,
    );
    expect(badHold.code).toBe(1);
    expect(badHold.stderr).toMatch(/error invalid_event: .*budget\.perCallHold/);

    const cleared = await runCli(
      ['update', '--user', userId, '--key', keyId, '--budget', 'none'],
      stack.lambdaUrl,
    );
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(columnsOf(cleared.stdout)).toMatchObject({ KEY_ID: keyId, BUDGET: '-' });
  });
});

describe('usage through the ops CLI', () => {
  it('shows the window real HTTPS calls used and why the next is refused, and in a pipe no progress and a plain last line', async () => {
    const userId = await newUser();
    const limited = await runCliJson<{ apiKey: string; key: KeyMetadata }>(
      ['create', '--user', userId, '--name', 'agent', '--rate-limit', '3/1h', '--quota', '100/month'],
      stack.lambdaUrl,
    );
    const old = await runCliJson<{ key: KeyMetadata }>(
      ['create', '--user', userId, '--name', 'old'],
      stack.lambdaUrl,
    );
    expect((await runCli(['revoke', '--user', userId, '--key', old.key.keyId], stack.lambdaUrl)).code).toBe(
      0,
    );
    // The calls and the first usage read take seconds: all in one hour-long window.
    await roomInWindow(3600, 15_000);
    const windowEnd = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
    const now = new Date();
    const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);

    const statuses: number[] = [];
    for (let call = 0; call < 4; call += 1) {
      const answer = await callApi(stack, {
        headers: jsonHeaders(limited.apiKey),
        body: JSON.stringify(CHAT_BODY),
      });
      statuses.push(answer.status);
    }
    const run = await runCli(['usage', '--user', userId], stack.lambdaUrl);

    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^USER_ID +STATUS +DEFAULT_PROJECT +CREATED\n${userId} +active `));
    const rows = Object.fromEntries(rowsOf(run.stdout).map((row) => [row.KEY_ID, row]));
    expect(rows[limited.key.keyId]).toEqual({
      KEY_ID: limited.key.keyId,
      NAME: 'agent',
      STATUS: 'active',
      START: limited.apiKey.slice(0, 12),
      USAGE: '3',
      LAST_USED: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      RATE_WINDOW: `3/3 (3600s) resets ${shownInstant(windowEnd)}`,
      QUOTA: `3/100 month resets ${shownInstant(monthEnd)}`,
      BUDGET: '-',
      REFUSING: `rate_limited until ${shownInstant(windowEnd)}`,
    });
    expect(rows[old.key.keyId]).toMatchObject({
      STATUS: 'revoked',
      RATE_WINDOW: '-',
      QUOTA: '-',
      REFUSING: 'revoked',
    });
    // Piped, as in a script or CI: no progress line, no control characters, a plain last line.
    expect(run.stderr).toBe('');
    expect(hasControl(run.stdout)).toBe(false);
    expect(run.stdout.endsWith(`\nusage ${userId}: 2 keys\n`)).toBe(true);

    const json = await runCliJson<{ ok: true; usage: KeyUsage[]; nextToken: string | null }>(
      ['usage', '--user', userId],
      stack.lambdaUrl,
    );
    expect(json.nextToken).toBeNull();
    expect(json.usage.map((key) => key.keyId).sort()).toEqual([limited.key.keyId, old.key.keyId].sort());

    const one = await runCli(['usage', '--user', userId, '--key', old.key.keyId], stack.lambdaUrl);
    expect(rowsOf(one.stdout).map((row) => row.KEY_ID)).toEqual([old.key.keyId]);
    expect(one.stdout.endsWith(`\nusage ${userId}: 1 key\n`)).toBe(true);
  }, 60_000);

  it('suspends a user in a pipe with a plain last line, and usage then shows every key refused', async () => {
    const userId = await newUser();
    for (const name of ['a', 'b']) {
      expect((await runCli(['create', '--user', userId, '--name', name], stack.lambdaUrl)).code).toBe(0);
    }

    const suspend = await runCli(['suspend-user', '--user', userId], stack.lambdaUrl);
    const usage = await runCli(['usage', '--user', userId], stack.lambdaUrl);

    expect(suspend.code, suspend.stderr).toBe(0);
    expect(hasControl(`${suspend.stdout}${suspend.stderr}`)).toBe(false);
    expect(suspend.stdout.trimEnd().split('\n').at(-1)).toBe(
      `suspend-user ${userId}: 2 keys updated in 1 call (complete)`,
    );
    expect(usage.stdout).toMatch(new RegExp(`\n${userId} +suspended `));
    expect(rowsOf(usage.stdout).map((row) => row.REFUSING)).toEqual(['suspended', 'suspended']);
  });

  it('answers an unknown user with exit 1 and the refusal', async () => {
    const run = await runCli(['usage', '--user', `ghost-${randomUUID().slice(0, 8)}`], stack.lambdaUrl);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error user_not_found: /);
    expect(run.stdout).toBe('');
  });
});
