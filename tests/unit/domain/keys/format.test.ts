import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CURRENT_HASH_VERSION,
  generateKey,
  hashKey,
  isWellFormedKey,
  KEY_LENGTH,
  KEY_PATTERN,
  keyStart,
  toBase62,
} from '../../../../shared/domain/keys/format.js';
import {
  SPEC_ALPHABET,
  specBase62,
  specCrc32,
  specKeyFromBytes,
  specSha256Hex,
} from '../../../support/key-vectors.js';

const ZERO_BYTES = Array.from({ length: 32 }, () => 0);
const COUNTING_BYTES = Array.from({ length: 32 }, (_, index) => index);
const MAX_BYTES = Array.from({ length: 32 }, () => 0xff);
const fixed = (bytes: readonly number[]) => () => Uint8Array.from(bytes);

/** Pinned literals: if the encoding, alphabet, checksum or hash ever changes, these break loudly. */
const KNOWN_ANSWERS = [
  {
    name: 'all zero bytes',
    bytes: ZERO_BYTES,
    key: 'sk-00000000000000000000000000000000000000000003P9rQy',
    hash: '0a459ce4ea08287ba19428cdaeb595e3e7e4993f34eb910872eae52ec1f7afc4',
  },
  {
    name: 'bytes 0..31',
    bytes: COUNTING_BYTES,
    key: 'sk-003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf2j7ZOG',
    hash: 'ababce8c361546382dfdff62944d35c772a6d3e8ff5bac3e538482b5d9cf0cd7',
  },
  {
    name: 'all 0xff bytes (the largest body, still 43 chars)',
    bytes: MAX_BYTES,
    key: 'sk-yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp10KxnhU',
    hash: '556c56da41c451a71491c1e5b8b852e29f7a9d99f37c166485a16aa508dfb60c',
  },
] as const;

describe('the independent reference implementation used as the oracle', () => {
  it('computes the standard CRC-32 check value and agrees with zlib.crc32', () => {
    expect(specCrc32('123456789')).toBe(0xcbf43926);
    expect(specCrc32('sk-abc')).toBe(crc32('sk-abc'));
  });

  it('encodes base62 with digits, then upper case, then lower case', () => {
    expect(SPEC_ALPHABET).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
    expect(specBase62([61], 2)).toBe('0z');
    expect(specBase62([62], 2)).toBe('10');
    expect(specBase62([0x01, 0x00], 3)).toBe('048'); // 256 = 4 × 62 + 8
  });
});

describe('key known-answer vectors', () => {
  it.each(KNOWN_ANSWERS)('builds the SPEC key and hash from $name', ({ bytes, key, hash }) => {
    const generated = generateKey(fixed(bytes));

    expect(generated.key).toBe(specKeyFromBytes(bytes));
    expect(generated.hash).toBe(specSha256Hex(generated.key));
    expect(generated.key).toBe(key);
    expect(generated.hash).toBe(hash);
    expect(generated.start).toBe(key.slice(0, 7));
  });

  it.each(KNOWN_ANSWERS)('accepts the pinned key from $name as well formed', ({ key }) => {
    expect(isWellFormedKey(key)).toBe(true);
  });

  it('hashes a key as lower-case hex SHA-256 of the whole key, hash_version 1', () => {
    expect(hashKey('sk-test')).toBe(specSha256Hex('sk-test'));
    expect(hashKey('sk-test')).toMatch(/^[0-9a-f]{64}$/);
    expect(CURRENT_HASH_VERSION).toBe(1);
  });

  it('writes the base62 body big-endian and left-pads it with zeros', () => {
    expect(toBase62(0n, 43)).toBe('0'.repeat(43));
    expect(toBase62(61n, 3)).toBe('00z');
    expect(toBase62(62n * 62n, 3)).toBe('100');
  });

  it('agrees with the reference implementation for arbitrary 32-byte inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const generated = generateKey(() => bytes);
        expect(generated.key).toBe(specKeyFromBytes([...bytes]));
        expect(generated.hash).toBe(specSha256Hex(generated.key));
        expect(isWellFormedKey(generated.key)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('key generation', () => {
  it('produces keys of the SPEC format', () => {
    for (let index = 0; index < 1000; index += 1) {
      const { key, start, hash } = generateKey();
      expect(key).toMatch(/^sk-[0-9A-Za-z]{49}$/);
      expect(key).toHaveLength(52);
      expect(start).toBe(key.slice(0, 7));
      expect(hash).toBe(hashKey(key));
    }
    expect(KEY_LENGTH).toBe(52);
    expect(KEY_PATTERN.source).toBe('^sk-[0-9A-Za-z]{49}$');
  });

  it('never repeats a key over 100,000 generations', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 100_000; index += 1) seen.add(generateKey().key);

    expect(seen.size).toBe(100_000);
  });

  it('refuses a random source that does not return 32 bytes', () => {
    expect(() => generateKey(() => new Uint8Array(31))).toThrow(/32 bytes/);
  });

  it('gives the display start as sk- plus four characters', () => {
    expect(keyStart('sk-AbCdEfGh')).toBe('sk-AbCd');
  });
});

describe('key validation', () => {
  const valid = generateKey(fixed(COUNTING_BYTES)).key;

  it('rejects every one-character change of a valid key', () => {
    let variants = 0;
    for (let position = 3; position < valid.length; position += 1) {
      for (const replacement of SPEC_ALPHABET) {
        if (replacement === valid[position]) continue;
        const changed = valid.slice(0, position) + replacement + valid.slice(position + 1);
        expect(isWellFormedKey(changed), `changed at ${position} to ${replacement}`).toBe(false);
        variants += 1;
      }
    }
    expect(variants).toBe(49 * 61);
  });

  it('rejects a valid key with a changed prefix, or with surrounding whitespace', () => {
    expect(isWellFormedKey(`pk-${valid.slice(3)}`)).toBe(false);
    expect(isWellFormedKey(`SK-${valid.slice(3)}`)).toBe(false);
    expect(isWellFormedKey(` ${valid}`)).toBe(false);
    expect(isWellFormedKey(`${valid}\n`)).toBe(false);
    expect(isWellFormedKey(valid.slice(0, -1))).toBe(false);
  });

  it('never throws and never accepts an arbitrary string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (candidate) => {
        expect(isWellFormedKey(candidate)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts a string of the right shape whose checksum was not computed', () => {
    const base62Char = fc.constantFrom(...SPEC_ALPHABET);
    fc.assert(
      fc.property(fc.string({ unit: base62Char, minLength: 49, maxLength: 49 }), (rest) => {
        const candidate = `sk-${rest}`;
        const expected = specKeyFromBytesOfBody(candidate);
        expect(isWellFormedKey(candidate)).toBe(candidate === expected);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws and answers false for any non-string value', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        fc.pre(typeof value !== 'string');
        expect(isWellFormedKey(value)).toBe(false);
      }),
      { numRuns: 300 },
    );
    expect(isWellFormedKey(null)).toBe(false);
    expect(isWellFormedKey(undefined)).toBe(false);
    expect(isWellFormedKey(new String(valid))).toBe(false);
  });
});

/** The key with the same `sk-` + 43-char body and the checksum SPEC §5 prescribes for it. */
function specKeyFromBytesOfBody(candidate: string): string {
  const prefixAndBody = candidate.slice(0, 46);
  const crc = specCrc32(prefixAndBody);
  return prefixAndBody + specBase62([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 6);
}
