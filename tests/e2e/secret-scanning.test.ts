/**
 * GitHub secret scanning's report through the real local stack over HTTPS (SPEC §3c): a
 * report signed with a key pair made here (passed to the stack as SECRET_SCANNING_PUBLIC_KEYS
 * in GitHub's document shape) revokes a live key, which its very next request finds refused;
 * a bad signature revokes nothing; the route needs no API key and reaches no authorizer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { generateKey, hashKey } from '../../shared/domain/keys/format.js';
import { AUTH_MESSAGES } from '../../shared/errors.js';
import { keySet, signedHeaders, signingKey } from '../support/github-signing.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { CHAT_BODY, callApi, expectEnvelope, expectSecurityHeaders, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

const PATH = '/api/v1/secret-scanning/github';
const github = signingKey();
const impostor = signingKey(github.identifier);

let stack: LocalStack;
let admin: KeysAdminClient;

beforeAll(async () => {
  stack = await startTestStack({ secretScanningPublicKeys: JSON.stringify(keySet(github)) });
  admin = keysAdminClient(stack.lambdaUrl);
});

afterAll(async () => {
  admin?.close();
  await stack?.stop();
});

const reportOf = (...tokens: string[]) =>
  JSON.stringify(
    tokens.map((token) => ({
      token,
      type: 'keygate_api_key',
      url: 'https://github.com/octo/repo/blob/abc123/.env',
      source: 'content',
    })),
  );

function postReport(body: string, headers: Record<string, string>) {
  return callApi(stack, { path: PATH, headers: { 'Content-Type': 'application/json', ...headers }, body });
}

const chat = (apiKey: string) =>
  callApi(stack, { headers: jsonHeaders(apiKey), body: JSON.stringify(CHAT_BODY) });

describe('POST /api/v1/secret-scanning/github', () => {
  it('revokes a leaked live key at once: its next request is refused, and the answer labels each token', async () => {
    const leaked = await admin.createUserWithKey('leak-e2e-owner');
    const unknown = generateKey('test').key;
    expect((await chat(leaked.apiKey)).status).toBe(200);
    const body = reportOf(leaked.apiKey, unknown, 'not-a-key');

    const answer = await postReport(body, signedHeaders(body, github));
    const after = await chat(leaked.apiKey);

    expect(answer.status).toBe(200);
    expectSecurityHeaders(answer);
    expect(answer.json).toEqual([
      { token_hash: hashKey(leaked.apiKey), token_type: 'keygate_api_key', label: 'true_positive' },
      { token_hash: hashKey(unknown), token_type: 'keygate_api_key', label: 'false_positive' },
      { token_hash: hashKey('not-a-key'), token_type: 'keygate_api_key', label: 'false_positive' },
    ]);
    expect(after.status).toBe(401);
    expect(expectEnvelope(after, 401, 'unauthorized').error.message).toBe(AUTH_MESSAGES.revoked);
    expect(await admin.getKey(leaked.userId, leaked.keyId)).toMatchObject({
      status: 'revoked',
      revokedReason: 'leaked',
    });

    // A repeat of the report is harmless: the same labels, the key stays revoked.
    const repeat = await postReport(body, signedHeaders(body, github));
    expect(repeat.status).toBe(200);
    expect(repeat.json).toEqual(answer.json);
  });

  it.each([
    ['no signature headers', () => ({})],
    ['a signature by another key under the same identifier', (body: string) => signedHeaders(body, impostor)],
    [
      'an unknown key identifier',
      (body: string) => ({ ...signedHeaders(body, github), 'Github-Public-Key-Identifier': 'f'.repeat(64) }),
    ],
  ])('refuses %s with 401 and revokes nothing', async (_case, headersFor) => {
    const victim = await admin.createUserWithKey(`leak-e2e-${Math.random().toString(36).slice(2, 10)}`);
    const body = reportOf(victim.apiKey);

    const answer = await postReport(body, headersFor(body));

    expect(answer.status).toBe(401);
    expectEnvelope(answer, 401, 'unauthorized');
    expect((await chat(victim.apiKey)).status).toBe(200);
  });

  it('refuses a body changed after signing', async () => {
    const victim = await admin.createUserWithKey('leak-e2e-tampered');
    const signed = reportOf(generateKey('test').key);
    const sent = reportOf(victim.apiKey);

    const answer = await postReport(sent, signedHeaders(signed, github));

    expect(answer.status).toBe(401);
    expect((await chat(victim.apiKey)).status).toBe(200);
  });

  it('answers 400 for a signed body that is not GitHub’s array', async () => {
    const body = JSON.stringify({ token: generateKey('test').key });

    const answer = await postReport(body, signedHeaders(body, github));

    expect(answer.status).toBe(400);
    expectEnvelope(answer, 400, 'invalid_request');
  });
});
