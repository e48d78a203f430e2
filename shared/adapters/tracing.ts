/**
 * Powertools Tracer (X-Ray subsegments for the handler and every SDK call). Its own module
 * because it pulls in the X-Ray SDK: only functions that trace pay for its bytes.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Powertools turns tracing off by itself outside Lambda (tests, local runtime). */
export function createTracer(serviceName: string): Tracer {
  return new Tracer({ serviceName });
}
