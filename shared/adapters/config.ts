/**
 * Function configuration, parsed once at cold start so a missing or wrong variable fails
 * the init, naming every problem, not a request. Environment variables are a handful of
 * strings, so the rules are a few typed functions rather than a schema library: zod/mini
 * here cost the authorizer 21 KB and ~8 ms of module init (`npm run bench`), ~0.08 of its
 * 1.3 × floor budget, for two variables.
 */
import { KEY_ENVIRONMENTS } from '../domain/keys/model.js';

/** One variable's rule: its parsed value, or what is wrong with it. */
export type Rule<T> = (raw: string | undefined) => { ok: true; value: T } | { ok: false; problem: string };

export type ConfigSpec = Record<string, Rule<unknown>>;

export type ConfigOf<S extends ConfigSpec> = { [K in keyof S]: S[K] extends Rule<infer T> ? T : never };

const valid = <T>(value: T) => ({ ok: true as const, value });
const invalid = (problem: string) => ({ ok: false as const, problem });

/** A non-empty string. */
export function required(): Rule<string> {
  return (raw) => (raw !== undefined && raw !== '' ? valid(raw) : invalid('required'));
}

/** An http(s) URL, or absent (then the AWS default endpoint). */
export function optionalUrl(): Rule<string | undefined> {
  return (raw) => {
    if (raw === undefined) return valid(undefined);
    const protocol = URL.canParse(raw) ? new URL(raw).protocol : '';
    return protocol === 'http:' || protocol === 'https:' ? valid(raw) : invalid('must be an http(s) URL');
  };
}

/** A non-empty string, or absent. */
export function optional(): Rule<string | undefined> {
  return (raw) => valid(raw === undefined || raw === '' ? undefined : raw);
}

/** An integer within [min, max], or `fallback` when absent. */
export function integer(options: { min: number; max: number; fallback: number }): Rule<number> {
  return (raw) => {
    if (raw === undefined || raw === '') return valid(options.fallback);
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) return invalid('must be an integer');
    if (value < options.min || value > options.max) {
      return invalid(`must be between ${options.min} and ${options.max}`);
    }
    return valid(value);
  };
}

/** One of `values`. */
export function oneOf<const T extends string>(values: readonly T[]): Rule<T> {
  return (raw) =>
    raw !== undefined && (values as readonly string[]).includes(raw)
      ? valid(raw as T)
      : invalid(`must be one of ${values.join(', ')}`);
}

/** A positive number, or absent. */
export function optionalPositiveNumber(): Rule<number | undefined> {
  return (raw) => {
    if (raw === undefined || raw === '') return valid(undefined);
    const value = Number(raw);
    return Number.isFinite(value) && value > 0 ? valid(value) : invalid('must be a positive number');
  };
}

/** The authorizer: the ApiKeys table only (its one call is the verify write). */
export const authorizerConfigSpec = {
  API_KEYS_TABLE: required(),
  KEY_ENVIRONMENT: oneOf(KEY_ENVIRONMENTS),
  DYNAMODB_ENDPOINT: optionalUrl(),
} satisfies ConfigSpec;

export const keysAdminConfigSpec = {
  API_KEYS_TABLE: required(),
  KEY_ENVIRONMENT: oneOf(KEY_ENVIRONMENTS),
  USERS_TABLE: required(),
  USER_KEYS_TABLE: required(),
  BUDGETS_TABLE: required(),
  /** The stage's per-call budget hold for keys created without `perCallHold` (SPEC §5b). */
  BUDGET_DEFAULT_HOLD_USD: optionalPositiveNumber(),
  DYNAMODB_ENDPOINT: optionalUrl(),
} satisfies ConfigSpec;

export const requestsConfigSpec = {
  IDEMPOTENCY_TABLE: required(),
  BUDGETS_TABLE: required(),
  BRAIN_FUNCTION_NAME: required(),
  /** Below API Gateway's 29 s integration limit so we answer 504 ourselves. */
  BRAIN_TIMEOUT_MS: integer({ min: 100, max: 28_000, fallback: 25_000 }),
  /** The brain function's own timeout: a repeat in doubt waits until it has surely passed (SPEC §3). */
  BRAIN_MAX_DURATION_MS: integer({ min: 1000, max: 900_000, fallback: 900_000 }),
  LAMBDA_ENDPOINT: optionalUrl(),
  DYNAMODB_ENDPOINT: optionalUrl(),
} satisfies ConfigSpec;

/**
 * The secret-scanning partner endpoint (SPEC §3c): revokes reported keys in ApiKeys and tells
 * the stage's alarm topic. Locally there is no topic (the notification is only logged), and the
 * public keys come from SECRET_SCANNING_PUBLIC_KEYS instead of GitHub.
 */
export const secretScanningConfigSpec = {
  API_KEYS_TABLE: required(),
  KEY_ENVIRONMENT: oneOf(KEY_ENVIRONMENTS),
  ALARM_TOPIC_ARN: optional(),
  SECRET_SCANNING_PUBLIC_KEYS: optional(),
  DYNAMODB_ENDPOINT: optionalUrl(),
} satisfies ConfigSpec;

/**
 * The reference brain: an optional per-request cost ceiling in USD (default in its code), and
 * the pause between two streamed deltas in ms (0 answers at once, e.g. for a bench that
 * measures everything but the brain's simulated generation time).
 */
export const referenceBrainConfigSpec = {
  REFERENCE_BRAIN_MAX_COST_USD: optionalPositiveNumber(),
  REFERENCE_BRAIN_STREAM_PACE_MS: integer({ min: 0, max: 10_000, fallback: 40 }),
} satisfies ConfigSpec;

export type AuthorizerConfig = ConfigOf<typeof authorizerConfigSpec>;
export type KeysAdminConfig = ConfigOf<typeof keysAdminConfigSpec>;
export type RequestsConfig = ConfigOf<typeof requestsConfigSpec>;
export type SecretScanningConfig = ConfigOf<typeof secretScanningConfigSpec>;
export type ReferenceBrainConfig = ConfigOf<typeof referenceBrainConfigSpec>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig<S extends ConfigSpec>(spec: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const config: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, rule] of Object.entries(spec)) {
    const result = rule(env[name]);
    if (!result.ok) problems.push(`${name}: ${result.problem}`);
    else if (result.value !== undefined) config[name] = result.value;
  }
  if (problems.length > 0) throw new ConfigError(`invalid function configuration: ${problems.join('; ')}`);
  return config as ConfigOf<S>;
}
