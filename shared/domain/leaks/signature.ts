/**
 * GitHub's signature on a secret-scanning report (SPEC §3c): `Github-Public-Key-Identifier`
 * names one of GitHub's published keys, `Github-Public-Key-Signature` is the base64 DER
 * ECDSA P-256 / SHA-256 signature over the raw body bytes. Every way a request can fail the
 * check answers a reason, never an exception: headers and keys are attacker-reachable input
 * (bad base64, a forged DER, a PEM that is not a P-256 key all mean "invalid").
 * Any published key with the identifier verifies, current or not: GitHub keeps a rotated key
 * in the document while reports it signed may still be in flight.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';

import {
  MAX_KEY_IDENTIFIER_LENGTH,
  type SecretScanningKeySet,
  type SecretScanningPublicKey,
} from './model.js';
import type { SecretScanningKeySource } from './ports.js';

export const KEY_IDENTIFIER_HEADER = 'Github-Public-Key-Identifier';
export const SIGNATURE_HEADER = 'Github-Public-Key-Signature';

export type SignatureRefusal = 'missing_headers' | 'unknown_key' | 'bad_signature';
export type SignatureResult = { ok: true } | { ok: false; reason: SignatureRefusal };

/** A report as it arrived: its headers (any case) and its body exactly as sent. */
export interface SignedReport {
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body; a string is taken as its UTF-8 bytes. */
  body: Uint8Array | string;
}

/** A DER ECDSA P-256 signature is at most 72 bytes (96 base64 characters); allow for padding slack. */
const MAX_SIGNATURE_BASE64_LENGTH = 100;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function header(headers: SignedReport['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && typeof value === 'string') {
      const trimmed = value.trim();
      if (trimmed !== '') return trimmed;
    }
  }
  return undefined;
}

/** The two headers, or undefined when either is missing or empty. */
export function readSignatureHeaders(
  headers: SignedReport['headers'],
): { keyIdentifier: string; signature: string } | undefined {
  const keyIdentifier = header(headers, KEY_IDENTIFIER_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  return keyIdentifier && signature ? { keyIdentifier, signature } : undefined;
}

/** Strict base64 → bytes; undefined for anything Buffer would otherwise decode leniently. */
function decodeSignature(signature: string): Buffer | undefined {
  if (signature.length > MAX_SIGNATURE_BASE64_LENGTH || !BASE64.test(signature)) return undefined;
  if (signature.replace(/=+$/, '').length % 4 === 1) return undefined;
  const bytes = Buffer.from(signature, 'base64');
  return bytes.length >= 8 ? bytes : undefined;
}

/** Parsed P-256 keys by PEM, so a warm container parses each published key once. */
const parsedKeys = new Map<string, KeyObject | null>();
const MAX_PARSED_KEYS = 32;

function p256Key(pem: string): KeyObject | undefined {
  const cached = parsedKeys.get(pem);
  if (cached !== undefined) return cached ?? undefined;
  let key: KeyObject | null = null;
  try {
    const candidate = createPublicKey(pem);
    if (candidate.asymmetricKeyType === 'ec' && candidate.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
      key = candidate;
    }
  } catch {
    key = null;
  }
  if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.clear();
  parsedKeys.set(pem, key);
  return key ?? undefined;
}

/** Whether `signature` (DER bytes) is `key`'s ECDSA P-256 / SHA-256 signature of `body`; never throws. */
function verifiesWith(key: SecretScanningPublicKey, body: SignedReport['body'], signature: Buffer): boolean {
  const publicKey = p256Key(key.key);
  if (!publicKey) return false;
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  try {
    return verify('sha256', bytes, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

type Checked = { done: SignatureResult } | { done?: undefined; keyIdentifier: string; signature: Buffer };

/** What can be refused before any key is looked up: missing headers, a signature that is not base64 DER. */
function precheck(report: SignedReport): Checked {
  const parts = readSignatureHeaders(report.headers);
  if (!parts) return { done: { ok: false, reason: 'missing_headers' } };
  if (parts.keyIdentifier.length > MAX_KEY_IDENTIFIER_LENGTH)
    return { done: { ok: false, reason: 'unknown_key' } };
  const signature = decodeSignature(parts.signature);
  if (!signature) return { done: { ok: false, reason: 'bad_signature' } };
  return { keyIdentifier: parts.keyIdentifier, signature };
}

function conclude(
  key: SecretScanningPublicKey | undefined,
  body: SignedReport['body'],
  signature: Buffer,
): SignatureResult {
  if (!key) return { ok: false, reason: 'unknown_key' };
  return verifiesWith(key, body, signature) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** Checks a report's signature against a key document already at hand. */
export function verifySignature(report: SignedReport, keys: SecretScanningKeySet): SignatureResult {
  const checked = precheck(report);
  if (checked.done) return checked.done;
  const key = keys.public_keys.find((candidate) => candidate.key_identifier === checked.keyIdentifier);
  return conclude(key, report.body, checked.signature);
}

/**
 * Checks a report's signature against a key source (which may reload to find an identifier).
 * A report without the headers or with a garbage signature is refused before the source is asked,
 * so it can never make the source call GitHub.
 */
export async function verifySignatureWith(
  report: SignedReport,
  source: SecretScanningKeySource,
): Promise<SignatureResult> {
  const checked = precheck(report);
  if (checked.done) return checked.done;
  let key: SecretScanningPublicKey | undefined;
  try {
    key = await source.find(checked.keyIdentifier);
  } catch {
    key = undefined;
  }
  return conclude(key, report.body, checked.signature);
}
