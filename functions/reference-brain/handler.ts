/** Reference brain Lambda (stage dev and the local stack): deterministic, simulated payments. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { referenceBrain } from './brain.js';
import { createLogger } from '../../shared/adapters/observability.js';
import { createTracer } from '../../shared/adapters/tracing.js';

const logger = createLogger('reference-brain');
const tracer = createTracer('reference-brain');
const maxCostUsd = Number(process.env.REFERENCE_BRAIN_MAX_COST_USD ?? '') || undefined;

async function answer(event: unknown, context?: Context): Promise<unknown> {
  // test-timeout stalls until just before this function's own timeout.
  const stallMs = Math.max(0, (context?.getRemainingTimeInMillis?.() ?? 30_000) - 100);
  const result = await referenceBrain(event, { maxCostUsd, stallMs });
  logger.info('reference brain answered', {
    request_id: (event as { request_id?: unknown } | null)?.request_id,
    outcome: (result as { decision?: { outcome?: string } }).decision?.outcome ?? 'failure',
  });
  return result;
}

export const handler = middy<unknown, unknown>()
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .handler((event, context) => answer(event, context));
