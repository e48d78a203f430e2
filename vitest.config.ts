import { defineConfig } from 'vitest/config';

/**
 * Tests that load DynamoDB Local for minutes (10,000 keys for one user). They run after
 * everything else, alone, so their load cannot slow the timing-sensitive tests sharing the
 * emulator (authorizer timeouts, exact counting).
 */
const SCALE_TESTS = ['tests/integration/domain/keys/scale.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    setupFiles: ['tests/support/log-capture.ts', 'tests/support/lambda-runtime.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Powertools: no EMF noise from metrics in tests, plain JSON logs.
    env: {
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_REGION: 'us-east-1',
      // Node 20 runs the tests here; Lambda runs Node 24, where the SDK has nothing to warn about.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['tests/**/*.test.ts'], exclude: SCALE_TESTS },
      },
      {
        extends: true,
        test: { name: 'scale', include: SCALE_TESTS, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
