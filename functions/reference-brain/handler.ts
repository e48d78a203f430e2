/**
 * Reference brain Lambda (stage dev and the local stack): deterministic, simulated payments.
 * A streaming brain (SPEC §4): its answer is written as newline-delimited JSON events —
 * decision, paced deltas, final — so the requests function's InvokeWithResponseStream gets the
 * decision at once; a plain Invoke gets the same lines, buffered by Lambda, which the brain
 * client reads as one answer. An answer without a decision (a brain-side failure, a request
 * outside the contract, the catalogue) is its one ordinary JSON payload.
 */
import { Readable } from 'node:stream';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfig, referenceBrainConfigSpec } from '../../shared/adapters/config.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { referenceBrainEvents, UnstreamableAnswer } from './events.js';

const config = loadConfig(referenceBrainConfigSpec);
const logger = createLogger('reference-brain');
const tracing = await loadTracing('reference-brain');

/** The answer's lines; a failure mid-answer (test-stream-error) fails the invocation after them. */
async function* answerLines(event: unknown, context: Context): AsyncGenerator<string> {
  // test-timeout stalls until just before this function's own timeout.
  const stallMs = Math.max(0, (context.getRemainingTimeInMillis?.() ?? 30_000) - 100);
  const requestId = (event as { request_id?: unknown } | null)?.request_id;
  try {
    for await (const brainEvent of referenceBrainEvents(event, {
      maxCostUsd: config.REFERENCE_BRAIN_MAX_COST_USD,
      paceMs: config.REFERENCE_BRAIN_STREAM_PACE_MS,
      stallMs,
    })) {
      if (brainEvent.type === 'decision') {
        logger.info('reference brain decided', {
          request_id: requestId,
          outcome: brainEvent.decision.outcome,
        });
      }
      yield `${JSON.stringify(brainEvent)}\n`;
    }
  } catch (error) {
    if (!(error instanceof UnstreamableAnswer)) throw error;
    logger.info('reference brain answered', { request_id: requestId, outcome: 'failure' });
    yield JSON.stringify(error.payload);
  }
}

export const handler = middy<unknown, unknown, Error, Context>({ streamifyResponse: true })
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  .handler((event, context) => Readable.from(answerLines(event, context)));
