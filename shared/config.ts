/**
 * Function configuration, parsed once at cold start with zod so a missing or wrong
 * variable fails the init, not a request. Each function reads only what it needs.
 */
import { z } from 'zod';

const optionalUrl = z.url().optional();

export const tablesConfigSchema = z.object({
  API_KEYS_TABLE: z.string().min(1),
  USERS_TABLE: z.string().min(1),
  DYNAMODB_ENDPOINT: optionalUrl,
});

export const requestsConfigSchema = z.object({
  IDEMPOTENCY_TABLE: z.string().min(1),
  BRAIN_FUNCTION_NAME: z.string().min(1),
  /** Below API Gateway's 29 s integration limit so we answer 504 ourselves. */
  BRAIN_TIMEOUT_MS: z.coerce.number().int().min(100).max(28_000).default(25_000),
  LAMBDA_ENDPOINT: optionalUrl,
  DYNAMODB_ENDPOINT: optionalUrl,
});

export type TablesConfig = z.infer<typeof tablesConfigSchema>;
export type RequestsConfig = z.infer<typeof requestsConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(`invalid function configuration: ${problems}`);
  }
  return parsed.data;
}
