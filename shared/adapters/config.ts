/**
 * Function configuration, parsed once at cold start so a missing or wrong variable fails
 * the init, not a request. zod/mini: the authorizer needs no other zod, and the classic
 * build would add ~70 KB to its bundle (measured by `npm run bench`).
 */
import * as z from 'zod/mini';

const optionalUrl = z.optional(z.url());
const tableName = z.string().check(z.minLength(1));

/** The authorizer: the ApiKeys table only (its one call is the verify write). */
export const authorizerConfigSchema = z.object({
  API_KEYS_TABLE: tableName,
  DYNAMODB_ENDPOINT: optionalUrl,
});

export const keysAdminConfigSchema = z.object({
  API_KEYS_TABLE: tableName,
  USERS_TABLE: tableName,
  DYNAMODB_ENDPOINT: optionalUrl,
});

export const requestsConfigSchema = z.object({
  IDEMPOTENCY_TABLE: tableName,
  BRAIN_FUNCTION_NAME: z.string().check(z.minLength(1)),
  /** Below API Gateway's 29 s integration limit so we answer 504 ourselves. */
  BRAIN_TIMEOUT_MS: z._default(
    z.coerce.number().check(
      z.refine((value) => Number.isInteger(value), 'must be an integer'),
      z.minimum(100),
      z.maximum(28_000),
    ),
    25_000,
  ),
  LAMBDA_ENDPOINT: optionalUrl,
  DYNAMODB_ENDPOINT: optionalUrl,
});

/** The reference brain: an optional per-request cost ceiling in USD (default in its code). */
export const referenceBrainConfigSchema = z.object({
  REFERENCE_BRAIN_MAX_COST_USD: z.optional(z.coerce.number().check(z.positive())),
});

export type AuthorizerConfig = z.infer<typeof authorizerConfigSchema>;
export type KeysAdminConfig = z.infer<typeof keysAdminConfigSchema>;
export type ReferenceBrainConfig = z.infer<typeof referenceBrainConfigSchema>;
export type RequestsConfig = z.infer<typeof requestsConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig<T extends z.ZodMiniType>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<T> {
  const parsed = z.safeParse(schema, env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(`invalid function configuration: ${problems}`);
  }
  return parsed.data;
}
