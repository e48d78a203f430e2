import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { SecretScanningKeySource } from '../../../../shared/domain/leaks/ports.js';
import {
  readSignatureHeaders,
  verifySignature,
  verifySignatureWith,
} from '../../../../shared/domain/leaks/signature.js';
import { keySet, signBody, signedHeaders, signingKey } from '../../../support/github-signing.js';

const body = JSON.stringify([
  {
    token: 'kg_test_example',
    type: 'keygate_api_key',
    url: 'https://github.com/o/r/blob/x',
    source: 'content',
  },
]);

const github = signingKey();
const keys = keySet(github);

describe('verifySignature', () => {
  it('accepts a body signed by a published key', () => {
    expect(verifySignature({ headers: signedHeaders(body, github), body }, keys)).toEqual({ ok: true });
  });

  it('accepts the raw bytes as a Uint8Array too, and any header case', () => {
    const bytes = Buffer.from(body, 'utf8');
    const headers = Object.fromEntries(
      Object.entries(signedHeaders(bytes, github)).map(([name, value]) => [name.toLowerCase(), value]),
    );
    expect(verifySignature({ headers, body: new Uint8Array(bytes) }, keys)).toEqual({ ok: true });
  });

  it('accepts a published key that is no longer current (reports in flight across a rotation)', () => {
    const old = signingKey(undefined, false);
    expect(verifySignature({ headers: signedHeaders(body, old), body }, keySet(github, old))).toEqual({
      ok: true,
    });
  });

  it('refuses a signature made with another key under a published identifier', () => {
    const forger = signingKey(github.identifier);
    expect(verifySignature({ headers: signedHeaders(body, forger), body }, keys)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a body changed after signing, even by one byte or trailing whitespace', () => {
    const headers = signedHeaders(body, github);
    expect(verifySignature({ headers, body: body.replace('content', 'commit') }, keys)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifySignature({ headers, body: `${body}\n` }, keys)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses an identifier that is not published', () => {
    const stranger = signingKey();
    expect(verifySignature({ headers: signedHeaders(body, stranger), body }, keys)).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
    const huge = { ...signedHeaders(body, github), 'Github-Public-Key-Identifier': 'a'.repeat(10_000) };
    expect(verifySignature({ headers: huge, body }, keys)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('refuses missing or empty headers', () => {
    const headers = signedHeaders(body, github);
    const cases: Record<string, string | undefined>[] = [
      {},
      { 'Github-Public-Key-Identifier': github.identifier },
      { 'Github-Public-Key-Signature': headers['Github-Public-Key-Signature'] },
      { ...headers, 'Github-Public-Key-Signature': '' },
      { ...headers, 'Github-Public-Key-Identifier': '   ' },
      { ...headers, 'Github-Public-Key-Signature': undefined },
    ];
    for (const candidate of cases) {
      expect(verifySignature({ headers: candidate, body }, keys)).toEqual({
        ok: false,
        reason: 'missing_headers',
      });
    }
  });

  it('refuses garbage signatures without throwing', () => {
    const valid = signBody(body, github.privateKey);
    const garbage = [
      'not base64 at all!',
      '%%%%',
      'QQ',
      'A',
      valid.slice(0, -8),
      `${valid}AAAA`,
      Buffer.from('x'.repeat(70)).toString('base64'),
      'A'.repeat(5000),
      Buffer.alloc(72).toString('base64'),
    ];
    for (const signature of garbage) {
      const headers = {
        'Github-Public-Key-Identifier': github.identifier,
        'Github-Public-Key-Signature': signature,
      };
      expect(verifySignature({ headers, body }, keys)).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });

  it('refuses, without throwing, when the published key is garbage PEM or not a P-256 key', () => {
    const headers = signedHeaders(body, github);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    for (const pem of [
      'not a pem',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      rsa,
      p384,
    ]) {
      const broken = {
        public_keys: [{ key_identifier: github.identifier, key: String(pem), is_current: true }],
      };
      expect(verifySignature({ headers, body }, broken)).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });
});

describe('verifySignatureWith a key source', () => {
  it('asks the source for the named identifier and verifies with what it finds', async () => {
    const find = vi.fn(async (id: string) => (id === github.identifier ? github.entry : undefined));
    const source: SecretScanningKeySource = { find };
    expect(await verifySignatureWith({ headers: signedHeaders(body, github), body }, source)).toEqual({
      ok: true,
    });
    expect(find).toHaveBeenCalledWith(github.identifier);
    const stranger = signingKey();
    expect(await verifySignatureWith({ headers: signedHeaders(body, stranger), body }, source)).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
  });

  it('never asks the source for requests refused on their headers alone', async () => {
    const find = vi.fn(async () => github.entry);
    const headers = { 'Github-Public-Key-Identifier': 'forged', 'Github-Public-Key-Signature': '!!' };
    expect(await verifySignatureWith({ headers, body }, { find })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifySignatureWith({ headers: {}, body }, { find })).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
    expect(find).not.toHaveBeenCalled();
  });

  it('treats a source that throws as not knowing the key', async () => {
    const source: SecretScanningKeySource = {
      find: async () => {
        throw new Error('down');
      },
    };
    expect(await verifySignatureWith({ headers: signedHeaders(body, github), body }, source)).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
  });
});

describe('readSignatureHeaders', () => {
  it('reads both headers in any case and trims them', () => {
    expect(
      readSignatureHeaders({ 'GITHUB-PUBLIC-KEY-IDENTIFIER': ' id ', 'github-public-key-signature': 'c2ln' }),
    ).toEqual({ keyIdentifier: 'id', signature: 'c2ln' });
  });
});
