/** Reference brain Lambda (stage dev and the local stack): deterministic, simulated payments. */
import type { Context } from 'aws-lambda';
import { referenceBrain } from '../../shared/brain/reference.js';
import { createLogger } from '../../shared/observability.js';

const logger = createLogger('reference-brain');
const maxCostUsd = Number(process.env.REFERENCE_BRAIN_MAX_COST_USD ?? '') || undefined;

export const handler = async (event: unknown, context?: Context): Promise<unknown> => {
  // test-timeout stalls until just before this function's own timeout.
  const stallMs = Math.max(0, (context?.getRemainingTimeInMillis?.() ?? 30_000) - 100);
  const answer = await referenceBrain(event, { maxCostUsd, stallMs });
  logger.info('reference brain answered', {
    request_id: (event as { request_id?: unknown } | null)?.request_id,
    outcome: (answer as { decision?: { outcome?: string } }).decision?.outcome ?? 'failure',
  });
  return answer;
};
