/**
 * GitHub secret scanning's side of a report, for the bench: an ECDSA P-256 pair made in the
 * run (never a real GitHub key), the key document the local stack is started with
 * (SECRET_SCANNING_PUBLIC_KEYS), and the two headers GitHub sends with a body it signed
 * (base64 DER ECDSA / SHA-256 over the raw bytes).
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { KEY_IDENTIFIER_HEADER, SIGNATURE_HEADER } from '../../shared/domain/leaks/signature.js';

export interface BenchSigner {
  /** Like GitHub's identifiers: hex SHA-256 of the public key. */
  identifier: string;
  privateKey: KeyObject;
  /** `{"public_keys": [{key_identifier, key, is_current}]}` as GitHub serves it. */
  keyDocument: string;
}

export function benchSigner(): BenchSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const identifier = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
  const keyDocument = JSON.stringify({
    public_keys: [
      {
        key_identifier: identifier,
        key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        is_current: true,
      },
    ],
  });
  return { identifier, privateKey, keyDocument };
}

/** The headers GitHub sends with `body` signed by `signer`. */
export function signedHeaders(body: string, signer: BenchSigner): Record<string, string> {
  return {
    [KEY_IDENTIFIER_HEADER]: signer.identifier,
    [SIGNATURE_HEADER]: sign('sha256', Buffer.from(body, 'utf8'), signer.privateKey).toString('base64'),
  };
}
