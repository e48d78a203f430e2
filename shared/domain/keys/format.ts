/**
 * The key format of SPEC §5: `kg_live_` (stage prod) or `kg_test_` (every other stage and
 * the local stack) + 43 base62 chars (32 random bytes, big-endian) + 6 base62 chars of
 * CRC-32 over everything before them. The prefix lets people, log redaction and secret
 * scanners (GitHub, gitleaks, trufflehog) tell our keys from anyone's `sk-` keys; the
 * checksum lets a typo or a forgery be refused without a database call.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { KEY_ENVIRONMENTS, type KeyEnvironment } from './model.js';

export { KEY_ENVIRONMENTS, type KeyEnvironment };

export const KEY_PREFIXES: Readonly<Record<KeyEnvironment, string>> = { live: 'kg_live_', test: 'kg_test_' };
export const KEY_PREFIX_LENGTH = 8;
export const KEY_BODY_LENGTH = 43;
export const KEY_CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX_LENGTH + KEY_BODY_LENGTH + KEY_CHECKSUM_LENGTH;
export const KEY_PATTERN = /^kg_(live|test)_[0-9A-Za-z]{49}$/;
/** What GitHub secret scanning and other scanners are given to find our keys (SPEC §3c). */
export const KEY_SCAN_PATTERN = 'kg_(live|test)_[0-9A-Za-z]{49}';
export const CURRENT_HASH_VERSION = 1;

/** `prod` issues and accepts live keys; every other stage (and the local stack) test keys. */
export function keyEnvironmentOfStage(stage: string): KeyEnvironment {
  return stage === 'prod' ? 'live' : 'test';
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A source of random bytes; injected so tests can force collisions. */
export type RandomSource = (size: number) => Uint8Array;
export const cryptoRandom: RandomSource = (size) => randomBytes(size);

export function toBase62(value: bigint, width: number): string {
  let out = '';
  let rest = value;
  while (rest > 0n) {
    out = BASE62.charAt(Number(rest % 62n)) + out;
    rest /= 62n;
  }
  return out.padStart(width, '0');
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function checksumOf(prefixAndBody: string): string {
  return toBase62(BigInt(crc32(prefixAndBody)), KEY_CHECKSUM_LENGTH);
}

export interface NewKey {
  /** The plaintext key: shown once, never stored or logged. */
  key: string;
  /** What is stored and looked up. */
  hash: string;
  /** Display prefix (`kg_live_` + 4 chars) safe to show and store. */
  start: string;
}

export function generateKey(environment: KeyEnvironment, random: RandomSource = cryptoRandom): NewKey {
  const bytes = random(32);
  if (bytes.length !== 32) throw new Error('random source must return 32 bytes');
  const prefixAndBody = KEY_PREFIXES[environment] + toBase62(bytesToBigInt(bytes), KEY_BODY_LENGTH);
  const key = prefixAndBody + checksumOf(prefixAndBody);
  return { key, hash: hashKey(key), start: keyStart(key) };
}

/**
 * The environment of a well-formed key (format and checksum), or undefined for anything
 * else. Needs no database and never throws, whatever it is given.
 */
export function environmentOfKey(candidate: unknown): KeyEnvironment | undefined {
  if (typeof candidate !== 'string' || candidate.length !== KEY_LENGTH) return undefined;
  const match = KEY_PATTERN.exec(candidate);
  if (!match) return undefined;
  const split = KEY_LENGTH - KEY_CHECKSUM_LENGTH;
  if (checksumOf(candidate.slice(0, split)) !== candidate.slice(split)) return undefined;
  return match[1] as KeyEnvironment;
}

/** Format + checksum check of either environment's key. */
export function isWellFormedKey(candidate: unknown): candidate is string {
  return environmentOfKey(candidate) !== undefined;
}

/** hash_version 1: hex SHA-256 of the whole key (see docs/decisions/0001-key-hashing.md). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function keyStart(key: string): string {
  return key.slice(0, KEY_PREFIX_LENGTH + 4);
}

/** A short, non-reversible reference for logs when no key_id is known yet. */
export function hashPrefix(hash: string): string {
  return hash.slice(0, 12);
}
