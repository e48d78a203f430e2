/**
 * GitHub secret scanning's side of a report, for tests: an ECDSA P-256 key pair made in the
 * test (never a real GitHub key), its entry in GitHub's key document, and the two headers
 * GitHub sends with a body it signed (base64 DER ECDSA / SHA-256 over the raw bytes).
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { SecretScanningKeySet, SecretScanningPublicKey } from '../../shared/domain/leaks/model.js';

export interface SigningKey {
  identifier: string;
  privateKey: KeyObject;
  publicPem: string;
  entry: SecretScanningPublicKey;
}

/** A fresh P-256 pair; its identifier, like GitHub's, is the hex SHA-256 of the public key (unless given). */
export function signingKey(identifier?: string, isCurrent = true): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const id =
    identifier ??
    createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
  return {
    identifier: id,
    privateKey,
    publicPem,
    entry: { key_identifier: id, key: publicPem, is_current: isCurrent },
  };
}

export function keySet(...keys: SigningKey[]): SecretScanningKeySet {
  return { public_keys: keys.map((key) => key.entry) };
}

/** Base64 of the DER ECDSA P-256 / SHA-256 signature of `body`. */
export function signBody(body: string | Uint8Array, privateKey: KeyObject): string {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return sign('sha256', bytes, privateKey).toString('base64');
}

/** The headers GitHub sends with `body` signed by `key`. */
export function signedHeaders(body: string | Uint8Array, key: SigningKey): Record<string, string> {
  return {
    'Github-Public-Key-Identifier': key.identifier,
    'Github-Public-Key-Signature': signBody(body, key.privateKey),
  };
}
