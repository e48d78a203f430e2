/**
 * An independent implementation of SPEC §5's key format, written from the SPEC's words and
 * sharing no code with shared/domain/keys/format.ts: base62 by long division over the byte array
 * (no BigInt), CRC-32 from its polynomial (no zlib). Known-answer tests compare both.
 */
import { createHash } from 'node:crypto';

export const SPEC_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Big-endian bytes → base62 digits, left-padded with `0` to `width`. */
export function specBase62(bytes: readonly number[], width: number): string {
  let number = [...bytes];
  const digits: string[] = [];
  while (number.some((byte) => byte !== 0)) {
    let remainder = 0;
    const quotient: number[] = [];
    for (const byte of number) {
      const accumulator = remainder * 256 + byte;
      quotient.push(Math.floor(accumulator / 62));
      remainder = accumulator % 62;
    }
    digits.unshift(SPEC_ALPHABET.charAt(remainder));
    number = quotient;
  }
  return digits.join('').padStart(width, '0');
}

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit += 1) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

/** CRC-32 (IEEE 802.3, reflected, init and xor-out 0xFFFFFFFF) of ASCII text. */
export function specCrc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'ascii')) {
    crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** SPEC §5: `kg_live_` for prod, `kg_test_` for every other stage. */
export function specKeyFromBytes(
  bytes: readonly number[],
  prefix: 'kg_live_' | 'kg_test_' = 'kg_test_',
): string {
  const prefixAndBody = `${prefix}${specBase62(bytes, 43)}`;
  const crc = specCrc32(prefixAndBody);
  const crcBytes = [crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff];
  return prefixAndBody + specBase62(crcBytes, 6);
}

export function specSha256Hex(text: string): string {
  return createHash('sha256').update(Buffer.from(text, 'ascii')).digest('hex');
}
