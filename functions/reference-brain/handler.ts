/** Reference brain Lambda (stage dev and the local stack): deterministic, simulated payments. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfig, referenceBrainConfigSpec } from '../../shared/adapters/config.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { referenceBrain } from './brain.js';

const config = loadConfig(referenceBrainConfigSpec);
const logger = createLogger('reference-brain');
const tracing = await loadTracing('reference-brain');

async function answer(event: unknown, context: Context): Promise<unknown> {
  // test-timeout stalls until just before this function's own timeout.
  const stallMs = Math.max(0, (context.getRemainingTimeInMillis?.() ?? 30_000) - 100);
  const result = await referenceBrain(event, { maxCostUsd: config.REFERENCE_BRAIN_MAX_COST_USD, stallMs });
  logger.info('reference brain answered', {
    request_id: (event as { request_id?: unknown } | null)?.request_id,
    outcome: (result as { decision?: { outcome?: string } }).decision?.outcome ?? 'failure',
  });
  return result;
}

export const handler = middy<unknown, unknown, Error, Context>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  .handler((event, context) => answer(event, context));
