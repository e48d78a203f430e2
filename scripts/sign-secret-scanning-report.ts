/**
 * Try the secret-scanning endpoint locally as GitHub would call it (SPEC §3c):
 *   npx tsx scripts/sign-secret-scanning-report.ts [TOKEN]
 * Makes (once; kept, git-ignored, in .local/secret-scanning/) a local ECDSA P-256 key pair
 * standing in for GitHub's, prints the SECRET_SCANNING_PUBLIC_KEYS value to start the local
 * stack with, and a curl that posts a sample report for TOKEN signed with that key. Without
 * TOKEN it reports a fresh, well-formed key that no table holds (answered `false_positive`);
 * give it a key of yours to see it revoked.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../shared/domain/keys/format.js';

const DIR = fileURLToPath(new URL('../.local/secret-scanning', import.meta.url));
const PRIVATE_KEY = join(DIR, 'private.pem');

function localPrivateKey(): KeyObject {
  if (existsSync(PRIVATE_KEY)) return createPrivateKey(readFileSync(PRIVATE_KEY, 'utf8'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  mkdirSync(DIR, { recursive: true });
  writeFileSync(PRIVATE_KEY, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  chmodSync(PRIVATE_KEY, 0o600);
  return privateKey;
}

const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

const privateKey = localPrivateKey();
const publicKey = createPublicKey(privateKey);
// Like GitHub's identifiers: hex SHA-256 of the public key.
const keyIdentifier = createHash('sha256')
  .update(publicKey.export({ type: 'spki', format: 'der' }))
  .digest('hex');
const keyDocument = JSON.stringify({
  public_keys: [
    {
      key_identifier: keyIdentifier,
      key: publicKey.export({ type: 'spki', format: 'pem' }),
      is_current: true,
    },
  ],
});

const token = process.argv[2] ?? generateKey('test').key;
const body = JSON.stringify([
  {
    token,
    type: 'keygate_api_key',
    url: 'https://github.com/octo-org/octo-repo/blob/main/.env',
    source: 'content',
  },
]);
const signature = sign('sha256', Buffer.from(body, 'utf8'), privateKey).toString('base64');
const url = `https://localhost:${process.env.PORT ?? '8443'}/api/v1/secret-scanning/github`;

console.log(`# 1. Start the local stack with the local signing key (${PRIVATE_KEY}):`);
console.log(`SECRET_SCANNING_PUBLIC_KEYS=${shellQuote(keyDocument)} npm start\n`);
console.log(
  process.argv[2]
    ? '# 2. Report the token as GitHub would:'
    : '# 2. Report a fresh key no table holds (answered false_positive; pass a key of yours to revoke it):',
);
console.log(
  [
    `curl -sS ${url} --cacert .local/certs/cert.pem`,
    `-H 'Content-Type: application/json'`,
    `-H ${shellQuote(`Github-Public-Key-Identifier: ${keyIdentifier}`)}`,
    `-H ${shellQuote(`Github-Public-Key-Signature: ${signature}`)}`,
    `--data-binary ${shellQuote(body)}`,
  ].join(' \\\n  '),
);
