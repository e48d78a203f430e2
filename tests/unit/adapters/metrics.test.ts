/**
 * The EMF lines the functions write are what the alarms and the dashboard read: each metric
 * with exactly the dimensions infra/metrics.ts names (service, stage, and its own).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decisionCounter } from '../../../functions/authorizer/authorize.js';
import { requestMetrics } from '../../../functions/requests/edge.js';
import {
  createMetrics,
  createOutcomeCounter,
  publishMetrics,
  STAGE_ENV_VAR,
} from '../../../shared/adapters/observability/metrics.js';
import { captureOutput, type OutputCapture } from '../../support/logs.js';

interface EmfLine {
  _aws: {
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
  };
  [field: string]: unknown;
}

let capture: OutputCapture | undefined;
// The test run turns EMF off (vitest.config.ts); these tests read it.
beforeEach(() => vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false'));
afterEach(() => {
  capture?.restore();
  vi.unstubAllEnvs();
});

function emfLines(run: () => void): EmfLine[] {
  capture = captureOutput();
  try {
    run();
  } finally {
    capture.restore();
  }
  return capture.jsonLines().filter((line): line is EmfLine => '_aws' in line);
}

describe('createMetrics', () => {
  it('puts the stage on every metric when the function knows its stage', () => {
    const metrics = createMetrics('authorizer', { [STAGE_ENV_VAR]: 'prod' });
    const [line] = emfLines(() => {
      metrics.addDimension('outcome', 'revoked');
      metrics.addMetric('AuthDecision', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    });
    expect(line?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'stage', 'outcome']]);
    expect(line).toMatchObject({ service: 'authorizer', stage: 'prod', outcome: 'revoked', AuthDecision: 1 });
  });

  it('has no stage dimension without one (tests, scripts)', () => {
    const metrics = createMetrics('authorizer', {});
    const [line] = emfLines(() => {
      metrics.addMetric('AuthDecision', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    });
    expect(line?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });
});

describe('publishMetrics', () => {
  it('writes several metrics in ONE line, every one with the dimensions (singleMetric would drop them)', () => {
    const metrics = createMetrics('requests', { [STAGE_ENV_VAR]: 'dev' });
    const lines = emfLines(() =>
      publishMetrics(
        metrics,
        [
          { name: 'A', unit: MetricUnit.Count, value: 1 },
          { name: 'B', unit: MetricUnit.Count, value: 2 },
        ],
        { outcome: 'x' },
      ),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'keygate',
      Dimensions: [['service', 'stage', 'outcome']],
      Metrics: [{ Name: 'A' }, { Name: 'B' }],
    });
    expect(lines[0]).toMatchObject({ outcome: 'x', A: 1, B: 2 });
  });

  it('clears the dimensions after the line, so the next metric does not inherit them', () => {
    const metrics = createMetrics('requests', { [STAGE_ENV_VAR]: 'dev' });
    const lines = emfLines(() => {
      publishMetrics(
        metrics,
        [{ name: 'A', unit: MetricUnit.Count, value: 1 }],
        { outcome: 'x' },
        { alsoOverall: true },
      );
      publishMetrics(metrics, [{ name: 'B', unit: MetricUnit.Count, value: 1 }]);
    });
    expect(lines.map((line) => line._aws.CloudWatchMetrics[0]?.Dimensions)).toEqual([
      [
        ['service', 'stage', 'outcome'],
        ['service', 'stage'],
      ],
      [['service', 'stage']],
    ]);
  });
});

describe('createOutcomeCounter', () => {
  it('writes, per outcome, the very line Powertools writes for it (only the Timestamp is now)', () => {
    const powertools = createMetrics('authorizer', { [STAGE_ENV_VAR]: 'prod' });
    const counter = createOutcomeCounter(
      createMetrics('authorizer', { [STAGE_ENV_VAR]: 'prod' }),
      'AuthDecision',
      'outcome',
    );
    for (const outcome of ['allowed', 'revoked', 'allowed', 'rate_limited']) {
      const before = Date.now();
      const [expected] = emfLines(() => {
        powertools.addDimension('outcome', outcome);
        powertools.addMetric('AuthDecision', MetricUnit.Count, 1);
        powertools.publishStoredMetrics();
      });
      const [line, extra] = emfLines(() => counter(outcome));
      expect(extra).toBeUndefined();
      const timestamp = (line?._aws as { Timestamp?: number } | undefined)?.Timestamp ?? 0;
      expect(timestamp).toBeGreaterThanOrEqual(before);
      expect(timestamp).toBeLessThanOrEqual(Date.now());
      expect({ ...line, _aws: { ...line?._aws, Timestamp: 0 } }).toEqual({
        ...expected,
        _aws: { ...expected?._aws, Timestamp: 0 },
      });
    }
  });

  it('writes nothing while metrics are disabled (POWERTOOLS_METRICS_DISABLED)', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const counter = decisionCounter(createMetrics('authorizer', { [STAGE_ENV_VAR]: 'prod' }));
    capture = captureOutput();
    counter('allowed');
    capture.restore();
    expect(capture.output()).toBe('');
  });

  it('counts the authorizer’s decisions as AuthDecision by outcome, the dimensions the alarms name', () => {
    const counter = decisionCounter(createMetrics('authorizer', { [STAGE_ENV_VAR]: 'dev' }));
    const [line] = emfLines(() => counter('unavailable'));
    expect(line?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'keygate',
      Dimensions: [['service', 'stage', 'outcome']],
      Metrics: [{ Name: 'AuthDecision', Unit: 'Count' }],
    });
    expect(line).toMatchObject({
      service: 'authorizer',
      stage: 'dev',
      outcome: 'unavailable',
      AuthDecision: 1,
    });
  });
});

describe('the requests function’s metrics', () => {
  it('counts a brain call by outcome AND overall (for percentiles), latency and outcome in one line', () => {
    const telemetry = requestMetrics(createMetrics('requests', { [STAGE_ENV_VAR]: 'staging' }));
    const lines = emfLines(() => telemetry.brainOutcome('brain_timeout', 1234));
    expect(lines).toHaveLength(1);
    expect(lines[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
      ['service', 'stage', 'outcome'],
      ['service', 'stage'],
    ]);
    expect(lines[0]).toMatchObject({
      service: 'requests',
      stage: 'staging',
      outcome: 'brain_timeout',
      BrainLatency: 1234,
      BrainOutcome: 1,
    });
  });

  it('counts a scope refusal', () => {
    const telemetry = requestMetrics(createMetrics('requests', { [STAGE_ENV_VAR]: 'staging' }));
    const lines = emfLines(() => telemetry.scopeRefused());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'requests', stage: 'staging', ScopeRefusal: 1 });
    expect(lines[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'stage']]);
  });
});
