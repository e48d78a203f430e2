/**
 * GitHub secret scanning's public key document (SPEC §3c), in the very shape GitHub serves
 * at `GET https://api.github.com/meta/public_keys/secret_scanning` and that local runs and
 * tests give as `SECRET_SCANNING_PUBLIC_KEYS`:
 * `{"public_keys": [{"key_identifier": "…", "key": "-----BEGIN PUBLIC KEY-----…", "is_current": true}]}`.
 * The three fields of a key are required; fields GitHub may add are dropped, not refused,
 * so an addition on GitHub's side never stops revocation. Adapters read this module to
 * parse what they load; the domain's signature check (signature.ts) reads the same types.
 */
import * as z from '../zod.js';

/** GitHub's identifiers are hex SHA-256 digests; anything far longer is not one of theirs. */
export const MAX_KEY_IDENTIFIER_LENGTH = 256;

export const secretScanningPublicKeySchema = z.object({
  key_identifier: z.string().check(z.minLength(1), z.maxLength(MAX_KEY_IDENTIFIER_LENGTH)),
  /** SPKI PEM of an ECDSA P-256 key. */
  key: z.string().check(z.minLength(1)),
  /** Which key GitHub signs new reports with; older keys still verify reports in flight. */
  is_current: z.boolean(),
});

export const secretScanningKeySetSchema = z.object({
  public_keys: z.array(secretScanningPublicKeySchema),
});

export type SecretScanningPublicKey = z.infer<typeof secretScanningPublicKeySchema>;
export type SecretScanningKeySet = z.infer<typeof secretScanningKeySetSchema>;

/** The key document parsed from its JSON text, or why it is not one (never the text itself). */
export function parseSecretScanningKeySet(
  json: string,
): { ok: true; keys: SecretScanningKeySet } | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = secretScanningKeySetSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    return {
      ok: false,
      problem: `not {public_keys: [{key_identifier, key, is_current}]} (${where}${first?.message})`,
    };
  }
  return { ok: true, keys: parsed.data };
}
