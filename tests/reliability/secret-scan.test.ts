/**
 * The run-wide secret scan (tests/support/secret-scan.ts, run by the global teardown over
 * every worker's captured output) on planted logs: it finds a valid key wherever it sits,
 * ignores look-alikes whose checksum fails and redacted forms, and reports where with a
 * hash prefix only. The planted keys are never printed: assertions compare booleans.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKey, hashKey, hashPrefix, isWellFormedKey } from '../../shared/domain/keys/format.js';
import { specKeyFromBytes } from '../support/key-vectors.js';
import { findPlaintextKeys } from '../support/secret-scan.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keygate-secret-scan-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function plant(name: string, lines: readonly string[]): void {
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
}

/** `key` with the character at `index` replaced by another base62 character. */
function withCharChanged(key: string, index: number): string {
  const current = key.charAt(index);
  const replacement = ALPHABET.charAt((ALPHABET.indexOf(current) + 1) % ALPHABET.length);
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

/** `kg_test_` + 49 random base62 characters that do not form a valid key. */
function randomLookAlike(): string {
  for (;;) {
    const body = Array.from(randomBytes(49), (byte) => ALPHABET.charAt(byte % 62)).join('');
    const candidate = `kg_test_${body}`;
    if (!isWellFormedKey(candidate)) return candidate;
  }
}

describe('findPlaintextKeys', () => {
  it('finds a planted valid key and reports its file, line and hash prefix', () => {
    const { key, hash } = generateKey('test');
    plant('worker-1.log', [
      '{"level":"INFO","message":"request answered","key_id":"key_abc"}',
      'some noise',
      `{"level":"ERROR","message":"oops","authorization":"Bearer ${key}"}`,
    ]);

    const findings = findPlaintextKeys(dir);

    expect(findings).toEqual([{ file: 'worker-1.log', line: 3, hashPrefix: hashPrefix(hash) }]);
  });

  it('finds a key built by the independent SPEC implementation, in every file and on every line', () => {
    const first = specKeyFromBytes([...randomBytes(32)]);
    const second = specKeyFromBytes([...randomBytes(32)]);
    plant('worker-1.log', [`x-api-key=${first}`, 'nothing here', `again ${first} and ${second}`]);
    plant('worker-2.log', [`${second}`]);

    const findings = findPlaintextKeys(dir);

    const summary = findings.map((finding) => `${finding.file}:${finding.line}:${finding.hashPrefix}`).sort();
    expect(summary).toEqual(
      [
        `worker-1.log:1:${hashPrefix(hashKey(first))}`,
        `worker-1.log:3:${hashPrefix(hashKey(first))}`,
        `worker-1.log:3:${hashPrefix(hashKey(second))}`,
        `worker-2.log:1:${hashPrefix(hashKey(second))}`,
      ].sort(),
    );
  });

  it('ignores look-alikes whose checksum fails', () => {
    const { key } = generateKey('test');
    const lookAlikes = [
      withCharChanged(key, key.length - 1),
      withCharChanged(key, 10),
      randomLookAlike(),
      randomLookAlike(),
    ];
    expect(lookAlikes.map((candidate) => isWellFormedKey(candidate))).toEqual([false, false, false, false]);
    plant(
      'worker-1.log',
      lookAlikes.map((candidate) => `{"message":"refused","candidate":"${candidate}"}`),
    );

    expect(findPlaintextKeys(dir)).toEqual([]);
  });

  it('ignores redacted and shortened forms of a real key', () => {
    const { key, hash, start } = generateKey('test');
    plant('worker-1.log', [
      `{"start":"${start}","key":"${start}…[redacted]"}`,
      `${key.slice(0, 20)}...${key.slice(-4)}`,
      `${key.slice(0, 56)}`,
      `${key.slice(0, 25)}***${key.slice(28)}`,
      `{"key_hash":"${hash}","hash_prefix":"${hashPrefix(hash)}"}`,
      'kg_test_AbCd…[redacted]',
    ]);

    expect(findPlaintextKeys(dir)).toEqual([]);
  });

  it('reports a hash prefix only: never the key, never its full hash', () => {
    const { key, hash } = generateKey('test');
    plant('worker-1.log', [`leaked ${key}`]);

    const findings = findPlaintextKeys(dir);
    const reported = JSON.stringify(findings);

    expect(findings).toHaveLength(1);
    expect(Object.keys(findings[0] ?? {}).sort()).toEqual(['file', 'hashPrefix', 'line']);
    expect(findings[0]?.hashPrefix).toMatch(/^[0-9a-f]{12}$/);
    expect(reported.includes(key)).toBe(false);
    expect(reported.includes(key.slice(3, 30))).toBe(false);
    expect(reported.includes(hash)).toBe(false);
  });

  it('answers an empty list for a folder that does not exist', () => {
    expect(findPlaintextKeys(join(dir, 'missing'))).toEqual([]);
  });
});
