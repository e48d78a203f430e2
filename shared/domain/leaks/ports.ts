/**
 * What the leak domain needs from outside: GitHub's published secret-scanning keys.
 * shared/adapters/github/public-keys.ts implements it (from GitHub, cached per container, or
 * from SECRET_SCANNING_PUBLIC_KEYS); tests pass fixed sets.
 */
import type { SecretScanningPublicKey } from './model.js';

export interface SecretScanningKeySource {
  /**
   * The published key named `keyIdentifier`, or undefined when there is none. A source may
   * reload its keys to find an identifier it does not know (bounded: forged identifiers
   * cannot make it call GitHub more often). Never throws: a failed load answers undefined
   * for identifiers it has not already got.
   */
  find(keyIdentifier: string): Promise<SecretScanningPublicKey | undefined>;
}
