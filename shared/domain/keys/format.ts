import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** Key format of SPEC §5: `sk-` + 43 base62 chars (32 random bytes) + 6 base62 chars of CRC-32. */
export const KEY_PREFIX = 'sk-';
export const KEY_BODY_LENGTH = 43;
export const KEY_CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + KEY_BODY_LENGTH + KEY_CHECKSUM_LENGTH;
export const KEY_PATTERN = /^sk-[0-9A-Za-z]{49}$/;
export const CURRENT_HASH_VERSION = 1;

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
  /** Display prefix (`sk-` + 4 chars) safe to show and store. */
  start: string;
}

export function generateKey(random: RandomSource = cryptoRandom): NewKey {
  const bytes = random(32);
  if (bytes.length !== 32) throw new Error('random source must return 32 bytes');
  const prefixAndBody = KEY_PREFIX + toBase62(bytesToBigInt(bytes), KEY_BODY_LENGTH);
  const key = prefixAndBody + checksumOf(prefixAndBody);
  return { key, hash: hashKey(key), start: keyStart(key) };
}

/** Format + checksum check that needs no database; never throws, whatever it is given. */
export function isWellFormedKey(candidate: unknown): candidate is string {
  if (typeof candidate !== 'string' || candidate.length !== KEY_LENGTH || !KEY_PATTERN.test(candidate)) {
    return false;
  }
  const split = KEY_LENGTH - KEY_CHECKSUM_LENGTH;
  return checksumOf(candidate.slice(0, split)) === candidate.slice(split);
}

/** hash_version 1: hex SHA-256 of the whole key (see docs/decisions/0001-key-hashing.md). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function keyStart(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 4);
}

/** A short, non-reversible reference for logs when no key_id is known yet. */
export function hashPrefix(hash: string): string {
  return hash.slice(0, 12);
}
