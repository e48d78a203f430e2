/**
 * The brain's own time limit per stage (infra/stages.ts, infra/functions.ts): the reference
 * brain's timeout where it is deployed, else the configured or `-c brainMaxDurationMs=` value,
 * else Lambda's maximum. It decides how long a repeat of an Idempotency-Key in doubt waits.
 */
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { brainMaxDurationMs, FUNCTIONS, LAMBDA_MAX_TIMEOUT_MS } from '../../infra/functions.js';
import { resolveStage } from '../../infra/stages.js';
import { PLACEHOLDER_BRAIN_ARN } from './support.js';

describe("the brain's own time limit", () => {
  it('is the reference brain timeout where the reference brain is deployed, whatever is configured', () => {
    const dev = resolveStage('dev', { brainMaxDurationMs: '5000' });

    expect(brainMaxDurationMs(dev)).toBe(FUNCTIONS['reference-brain'].timeoutMs(dev));
  });

  it("is Lambda's maximum for a real brain whose timeout is not configured", () => {
    const prod = resolveStage('prod', { brainFunctionArn: PLACEHOLDER_BRAIN_ARN });

    expect(brainMaxDurationMs(prod)).toBe(LAMBDA_MAX_TIMEOUT_MS);
  });

  it('follows -c brainMaxDurationMs= for a real brain', () => {
    const prod = resolveStage('prod', {
      brainFunctionArn: PLACEHOLDER_BRAIN_ARN,
      brainMaxDurationMs: '60000',
    });

    expect(prod.brainMaxDurationMs).toBe(60_000);
    expect(brainMaxDurationMs(prod)).toBe(60_000);
  });

  it.each(['soon', '0', '900001', '1.5'])('refuses -c brainMaxDurationMs=%s', (value) => {
    expect(() =>
      resolveStage('staging', { brainFunctionArn: PLACEHOLDER_BRAIN_ARN, brainMaxDurationMs: value }),
    ).toThrow(z.ZodError);
  });
});
