/**
 * What the leak domain needs from outside: GitHub's published secret-scanning keys.
 * shared/adapters/github/public-keys.ts implements it (from GitHub, cached per container, or
 * from SECRET_SCANNING_PUBLIC_KEYS); tests pass fixed sets.
 */
import type { SecretScanningPublicKey } from './model.js';
import type { LeakLabel } from './report.js';

export interface SecretScanningKeySource {
  /**
   * The published key named `keyIdentifier`, or undefined when there is none. A source may
   * reload its keys to find an identifier it does not know (bounded: forged identifiers
   * cannot make it call GitHub more often). Never throws: a failed load answers undefined
   * for identifiers it has not already got.
   */
  find(keyIdentifier: string): Promise<SecretScanningPublicKey | undefined>;
}

/** What the stage's operators are told about one leaked key: never the token. */
export interface LeakNotice {
  keyId: string;
  userId: string;
  /** Where GitHub found it (the commit or file URL it gave) and what it calls the finding. */
  url: string;
  source: string;
  type: string;
  /** When the key was revoked by this report. */
  revokedAt: string;
}

export interface LeakTelemetry {
  /** One reported token: its label, and whether this report revoked an active key. */
  tokenReported(label: LeakLabel, revoked: boolean): void;
}
