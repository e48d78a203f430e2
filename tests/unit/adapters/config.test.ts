import { describe, expect, it } from 'vitest';
import {
  authorizerConfigSpec,
  ConfigError,
  keysAdminConfigSpec,
  loadConfig,
  referenceBrainConfigSpec,
  requestsConfigSpec,
  secretScanningConfigSpec,
} from '../../../shared/adapters/config.js';

describe('function configuration', () => {
  it('reads the table names and an optional endpoint', () => {
    const config = loadConfig(keysAdminConfigSpec, {
      API_KEYS_TABLE: 'k',
      USERS_TABLE: 'u',
      USER_KEYS_TABLE: 'uk',
      BUDGETS_TABLE: 'b',
      KEY_ENVIRONMENT: 'test',
    });

    expect(config).toEqual({
      API_KEYS_TABLE: 'k',
      USERS_TABLE: 'u',
      USER_KEYS_TABLE: 'uk',
      BUDGETS_TABLE: 'b',
      KEY_ENVIRONMENT: 'test',
    });
  });

  it('takes keys-admin’s default per-call budget hold when the stage sets one', () => {
    const base = {
      API_KEYS_TABLE: 'k',
      USERS_TABLE: 'u',
      USER_KEYS_TABLE: 'uk',
      BUDGETS_TABLE: 'b',
      KEY_ENVIRONMENT: 'test',
    };

    expect(loadConfig(keysAdminConfigSpec, { ...base, BUDGET_DEFAULT_HOLD_USD: '0.25' })).toMatchObject({
      BUDGET_DEFAULT_HOLD_USD: 0.25,
    });
    expect(loadConfig(keysAdminConfigSpec, base).BUDGET_DEFAULT_HOLD_USD).toBeUndefined();
    for (const wrong of ['0', '-1', 'half']) {
      expect(() => loadConfig(keysAdminConfigSpec, { ...base, BUDGET_DEFAULT_HOLD_USD: wrong })).toThrow(
        ConfigError,
      );
    }
  });

  it('fails at cold start, naming every missing or wrong variable', () => {
    const env = { API_KEYS_TABLE: '', DYNAMODB_ENDPOINT: 'not a url' };

    const error = (() => {
      try {
        loadConfig(keysAdminConfigSpec, env);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(ConfigError);
    for (const name of [
      'API_KEYS_TABLE',
      'USERS_TABLE',
      'USER_KEYS_TABLE',
      'BUDGETS_TABLE',
      'DYNAMODB_ENDPOINT',
      'KEY_ENVIRONMENT',
    ]) {
      expect((error as Error).message).toContain(name);
    }
  });

  it('defaults the brain timeout to 25 s and keeps it below API Gateway’s 29 s', () => {
    const base = { IDEMPOTENCY_TABLE: 'i', BUDGETS_TABLE: 'b', BRAIN_FUNCTION_NAME: 'brain' };

    expect(loadConfig(requestsConfigSpec, base).BRAIN_TIMEOUT_MS).toBe(25_000);
    expect(loadConfig(requestsConfigSpec, { ...base, BRAIN_TIMEOUT_MS: '1500' }).BRAIN_TIMEOUT_MS).toBe(1500);
    for (const wrong of ['29000', '50', '1.5', 'soon']) {
      expect(() => loadConfig(requestsConfigSpec, { ...base, BRAIN_TIMEOUT_MS: wrong })).toThrow(ConfigError);
    }
  });

  it('takes only http(s) URLs as endpoints', () => {
    const base = { API_KEYS_TABLE: 'k', KEY_ENVIRONMENT: 'live' };
    expect(loadConfig(authorizerConfigSpec, { ...base, DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' })).toEqual(
      {
        ...base,
        DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      },
    );
    for (const wrong of ['localhost:8000', 'ftp://host', '']) {
      expect(() => loadConfig(authorizerConfigSpec, { ...base, DYNAMODB_ENDPOINT: wrong })).toThrow(
        /DYNAMODB_ENDPOINT: must be an http\(s\) URL/,
      );
    }
  });

  it('gives secret-scanning its table and key environment, and an optional topic and key document', () => {
    const base = { API_KEYS_TABLE: 'k', KEY_ENVIRONMENT: 'live' };
    // Locally: no topic (the notification is only logged), no key document (then GitHub's).
    expect(loadConfig(secretScanningConfigSpec, { ...base, ALARM_TOPIC_ARN: '' })).toEqual(base);
    const topic = 'arn:aws:sns:us-east-1:123456789012:alarms';
    const keys = '{"public_keys":[]}';
    expect(
      loadConfig(secretScanningConfigSpec, {
        ...base,
        ALARM_TOPIC_ARN: topic,
        SECRET_SCANNING_PUBLIC_KEYS: keys,
      }),
    ).toEqual({ ...base, ALARM_TOPIC_ARN: topic, SECRET_SCANNING_PUBLIC_KEYS: keys });
    expect(() => loadConfig(secretScanningConfigSpec, { KEY_ENVIRONMENT: 'prod' })).toThrow(
      /API_KEYS_TABLE: required.*KEY_ENVIRONMENT: must be one of/,
    );
  });

  it("reads the reference brain's optional cost ceiling as a positive number and its stream pace", () => {
    expect(loadConfig(referenceBrainConfigSpec, {})).toEqual({ REFERENCE_BRAIN_STREAM_PACE_MS: 40 });
    expect(
      loadConfig(referenceBrainConfigSpec, {
        REFERENCE_BRAIN_MAX_COST_USD: '0.25',
        REFERENCE_BRAIN_STREAM_PACE_MS: '0',
      }),
    ).toEqual({ REFERENCE_BRAIN_MAX_COST_USD: 0.25, REFERENCE_BRAIN_STREAM_PACE_MS: 0 });
    for (const wrong of ['-1', '2.5', 'slow']) {
      expect(() => loadConfig(referenceBrainConfigSpec, { REFERENCE_BRAIN_STREAM_PACE_MS: wrong })).toThrow(
        ConfigError,
      );
    }
    for (const wrong of ['0', '-1', 'cheap']) {
      expect(() => loadConfig(referenceBrainConfigSpec, { REFERENCE_BRAIN_MAX_COST_USD: wrong })).toThrow(
        ConfigError,
      );
    }
  });

  it('takes only live or test as the key environment', () => {
    for (const wrong of [undefined, '', 'prod', 'LIVE']) {
      expect(() => loadConfig(authorizerConfigSpec, { API_KEYS_TABLE: 'k', KEY_ENVIRONMENT: wrong })).toThrow(
        /KEY_ENVIRONMENT: must be one of live, test/,
      );
    }
  });
});
