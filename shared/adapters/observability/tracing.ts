/**
 * Powertools Tracer (X-Ray subsegments for the handler and every SDK call), loaded only
 * when tracing is active: the X-Ray SDK is ~120 KB that every cold start would parse and
 * ~10 ms of module init (`npm run bench`), so a container without tracing (tests, the
 * local runtime, a stage with tracing off) never loads it. Handlers `await loadTracing(...)`
 * at init, once per container.
 */
import type { MiddlewareObj } from '@middy/core';
import type { ClientInstrumentation } from '../aws-clients.js';

export interface Tracing {
  /** Instruments an SDK client: one subsegment per call. */
  instrumentation: ClientInstrumentation;
  /** middy middleware: a segment per invocation, errors annotated (responses are not captured). */
  middleware: MiddlewareObj;
}

/**
 * Powertools' own rule, read without loading it: on unless POWERTOOLS_TRACE_ENABLED=false,
 * and only inside Lambda (AWS_EXECUTION_ENV set), not under SAM local or the Amplify mock.
 */
export function tracingActive(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() === 'false') return false;
  const executionEnv = env.AWS_EXECUTION_ENV ?? '';
  return executionEnv !== '' && executionEnv !== 'AWS_Lambda_amplify-mock' && !env.AWS_SAM_LOCAL;
}

export async function loadTracing(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tracing | undefined> {
  if (!tracingActive(env)) return undefined;
  // A package import (package.json "imports"): the source module here, a file of its own
  // beside the handler in a deployed bundle (infra/bundling.ts).
  const { Tracer, captureLambdaHandler } = await import('#tracer-runtime');
  const tracer = new Tracer({ serviceName });
  return {
    instrumentation: tracer,
    middleware: captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj,
  };
}

/** For `middy().use(...)`: the tracing middleware when tracing is on, else none at all. */
export function tracingMiddleware(tracing: Tracing | undefined): MiddlewareObj[] {
  return tracing ? [tracing.middleware] : [];
}
