/**
 * Scans the captured logs of a whole test run for plaintext keys: any string with a valid
 * keygate key format and checksum. The keys themselves are never printed, only where.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashKey, hashPrefix, isWellFormedKey } from '../../shared/domain/keys/format.js';

/** Any 57-character window that starts with our prefix: a key glued to more letters is still found. */
const CANDIDATE = /kg_(?:live|test)_[0-9A-Za-z]{49}/g;

export interface SecretFinding {
  file: string;
  line: number;
  /** A short hash prefix of the key, enough to trace it, useless to an attacker. */
  hashPrefix: string;
}

export function findPlaintextKeys(dir: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((name) => name.endsWith('.log'));
  } catch {
    return findings;
  }
  for (const name of files) {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n');
    lines.forEach((text, index) => {
      for (const match of text.matchAll(CANDIDATE)) {
        if (isWellFormedKey(match[0]))
          findings.push({ file: name, line: index + 1, hashPrefix: hashPrefix(hashKey(match[0])) });
      }
    });
  }
  return findings;
}
