/**
 * Everything tracing needs at run time, behind one import that `loadTracing` makes only
 * when tracing is active. Deployed bundles ship it as a file of its own beside the handler
 * (infra/bundling.ts), so a container without tracing never parses the X-Ray SDK.
 */
export { Tracer } from '@aws-lambda-powertools/tracer';
export { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
