import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CURRENT_HASH_VERSION,
  environmentOfKey,
  generateKey,
  hashKey,
  isWellFormedKey,
  KEY_LENGTH,
  KEY_PATTERN,
  KEY_SCAN_PATTERN,
  keyEnvironmentOfStage,
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

/** Pinned literals: if the encoding, alphabet, prefix, checksum or hash ever changes, these break loudly. */
const KNOWN_ANSWERS = [
  {
    name: 'all zero bytes, test',
    environment: 'test',
    bytes: ZERO_BYTES,
    key: 'kg_test_000000000000000000000000000000000000000000019UTgA',
    hash: '4cb0b4fc783dd6d0f122d50f4fa5d817dbdef3cf208eea9080fc8607c54eeca5',
  },
  {
    name: 'all zero bytes, live',
    environment: 'live',
    bytes: ZERO_BYTES,
    key: 'kg_live_00000000000000000000000000000000000000000000iucAc',
    hash: 'fcc910199cc83967f6c05ee3f2d2760a1a3a93472def20b2ba8989fd7bd1c82b',
  },
  {
    name: 'bytes 0..31, test',
    environment: 'test',
    bytes: COUNTING_BYTES,
    key: 'kg_test_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf0Mh9EQ',
    hash: 'ad7d844f036b28610ea06cb0ff04f5a8ba21ac6faa4c2d247057a4a08ba6d0c9',
  },
  {
    name: 'bytes 0..31, live',
    environment: 'live',
    bytes: COUNTING_BYTES,
    key: 'kg_live_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf0BwQDy',
    hash: '524ea97e95ab0c95b9ec2708f3f91731b6d795260f0d77f437ffa62f6f7730bc',
  },
  {
    name: 'all 0xff bytes (the largest body, still 43 chars), live',
    environment: 'live',
    bytes: MAX_BYTES,
    key: 'kg_live_yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp12YxnP0',
    hash: 'b3c55e629031934a7e658f45c77bfbe11010d3fd80f98e240f12adaad0afebec',
  },
] as const;

describe('the independent reference implementation used as the oracle', () => {
  it('computes the standard CRC-32 check value and agrees with zlib.crc32', () => {
    expect(specCrc32('123456789')).toBe(0xcbf43926);
    expect(specCrc32('kg_test_abc')).toBe(crc32('kg_test_abc'));
  });

  it('encodes base62 with digits, then upper case, then lower case', () => {
    expect(SPEC_ALPHABET).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
    expect(specBase62([61], 2)).toBe('0z');
    expect(specBase62([62], 2)).toBe('10');
    expect(specBase62([0x01, 0x00], 3)).toBe('048'); // 256 = 4 × 62 + 8
  });
});

describe('key known-answer vectors', () => {
  it.each(KNOWN_ANSWERS)('builds the SPEC key and hash from $name', ({ environment, bytes, key, hash }) => {
    const generated = generateKey(environment, fixed(bytes));

    expect(generated.key).toBe(specKeyFromBytes(bytes, `kg_${environment}_`));
    expect(generated.hash).toBe(specSha256Hex(generated.key));
    expect(generated.key).toBe(key);
    expect(generated.hash).toBe(hash);
    expect(generated.start).toBe(key.slice(0, 12));
  });

  it.each(KNOWN_ANSWERS)(
    'accepts the pinned key from $name as well formed, of its environment',
    ({ environment, key }) => {
      expect(isWellFormedKey(key)).toBe(true);
      expect(environmentOfKey(key)).toBe(environment);
    },
  );

  it('hashes a key as lower-case hex SHA-256 of the whole key, hash_version 1', () => {
    expect(hashKey('kg_test_x')).toBe(specSha256Hex('kg_test_x'));
    expect(hashKey('kg_test_x')).toMatch(/^[0-9a-f]{64}$/);
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
        const generated = generateKey('test', () => bytes);
        expect(generated.key).toBe(specKeyFromBytes([...bytes], 'kg_test_'));
        expect(generateKey('live', () => bytes).key).toBe(specKeyFromBytes([...bytes], 'kg_live_'));
        expect(generated.hash).toBe(specSha256Hex(generated.key));
        expect(isWellFormedKey(generated.key)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('key generation', () => {
  it.each(['live', 'test'] as const)('produces %s keys of the SPEC format', (environment) => {
    for (let index = 0; index < 1000; index += 1) {
      const { key, start, hash } = generateKey(environment);
      expect(key).toMatch(new RegExp(`^kg_${environment}_[0-9A-Za-z]{49}$`));
      expect(key).toHaveLength(57);
      expect(start).toBe(key.slice(0, 12));
      expect(hash).toBe(hashKey(key));
    }
    expect(KEY_LENGTH).toBe(57);
    expect(KEY_PATTERN.source).toBe('^kg_(live|test)_[0-9A-Za-z]{49}$');
    // The regex registered with GitHub secret scanning (SPEC §3c) is the same pattern.
    expect(`^${KEY_SCAN_PATTERN}$`).toBe(KEY_PATTERN.source);
  });

  it('gives prod live keys and every other stage test keys', () => {
    expect(keyEnvironmentOfStage('prod')).toBe('live');
    for (const stage of ['dev', 'staging', 'local']) expect(keyEnvironmentOfStage(stage)).toBe('test');
  });

  it('never repeats a key over 100,000 generations', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 100_000; index += 1) seen.add(generateKey('test').key);

    expect(seen.size).toBe(100_000);
  });

  it('refuses a random source that does not return 32 bytes', () => {
    expect(() => generateKey('test', () => new Uint8Array(31))).toThrow(/32 bytes/);
  });

  it('gives the display start as the prefix plus four characters', () => {
    expect(keyStart('kg_live_AbCdEfGh')).toBe('kg_live_AbCd');
  });
});

describe('key validation', () => {
  const valid = generateKey('test', fixed(COUNTING_BYTES)).key;

  it('rejects every one-character change of a valid key', () => {
    let variants = 0;
    for (let position = 8; position < valid.length; position += 1) {
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
    // The checksum covers the prefix: a test key relabelled live is no key at all.
    expect(isWellFormedKey(`kg_live_${valid.slice(8)}`)).toBe(false);
    expect(isWellFormedKey(`KG_TEST_${valid.slice(8)}`)).toBe(false);
    expect(isWellFormedKey(`sk-${valid.slice(8)}`)).toBe(false);
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
        const candidate = `kg_test_${rest}`;
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

/** The key with the same prefix + 43-char body and the checksum SPEC §5 prescribes for it. */
function specKeyFromBytesOfBody(candidate: string): string {
  const prefixAndBody = candidate.slice(0, 51);
  const crc = specCrc32(prefixAndBody);
  return prefixAndBody + specBase62([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 6);
}
