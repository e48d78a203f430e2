import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  keysAdminConfigSchema,
  loadConfig,
  requestsConfigSchema,
} from '../../../shared/adapters/config.js';

describe('function configuration', () => {
  it('reads the table names and an optional endpoint', () => {
    const config = loadConfig(keysAdminConfigSchema, { API_KEYS_TABLE: 'k', USERS_TABLE: 'u' });

    expect(config).toEqual({ API_KEYS_TABLE: 'k', USERS_TABLE: 'u' });
  });

  it('fails at cold start, naming every missing or wrong variable', () => {
    const env = { API_KEYS_TABLE: '', DYNAMODB_ENDPOINT: 'not a url' };

    const error = (() => {
      try {
        loadConfig(keysAdminConfigSchema, env);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(ConfigError);
    for (const name of ['API_KEYS_TABLE', 'USERS_TABLE', 'DYNAMODB_ENDPOINT']) {
      expect((error as Error).message).toContain(name);
    }
  });

  it('defaults the brain timeout to 25 s and keeps it below API Gateway’s 29 s', () => {
    const base = { IDEMPOTENCY_TABLE: 'i', BRAIN_FUNCTION_NAME: 'brain' };

    expect(loadConfig(requestsConfigSchema, base).BRAIN_TIMEOUT_MS).toBe(25_000);
    expect(loadConfig(requestsConfigSchema, { ...base, BRAIN_TIMEOUT_MS: '1500' }).BRAIN_TIMEOUT_MS).toBe(
      1500,
    );
    for (const wrong of ['29000', '50', '1.5', 'soon']) {
      expect(() => loadConfig(requestsConfigSchema, { ...base, BRAIN_TIMEOUT_MS: wrong })).toThrow(
        ConfigError,
      );
    }
  });
});
