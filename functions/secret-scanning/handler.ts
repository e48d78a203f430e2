/**
 * POST /api/v1/secret-scanning/github (SPEC §3c): GitHub secret scanning's partner endpoint.
 * No API key: GitHub's ECDSA signature over the raw body authenticates the call (keys from
 * SECRET_SCANNING_PUBLIC_KEYS locally, from GitHub's published document when deployed).
 * Every reported token of this stage is revoked with reason `leaked` and labelled.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { loadConfig, secretScanningConfigSpec } from '../../shared/adapters/config.js';
import { DynamoKeyRevocation } from '../../shared/adapters/dynamodb/key-revocation.js';
import { fromEnvironment, fromGitHub } from '../../shared/adapters/github/public-keys.js';
import {
  errorResponse as errorAnswer,
  jsonResponse as jsonAnswer,
} from '../../shared/adapters/http/proxy-answers.js';
import { leakNotifier } from '../../shared/adapters/notifications/alarm-topic.js';
import { createLogger } from '../../shared/adapters/observability/logger.js';
import { createMetrics, publishMetrics } from '../../shared/adapters/observability/metrics.js';
import { loadTracing, tracingMiddleware } from '../../shared/adapters/observability/tracing.js';
import { parseLeakReport } from '../../shared/domain/leaks/report.js';
import { handleLeakReport, type LeakDeps } from '../../shared/domain/leaks/revocation.js';
import { verifySignatureWith } from '../../shared/domain/leaks/signature.js';
import { headersOf, MAX_REPORT_BYTES, rawBodyOf, requestIdOf } from './edge.js';

const config = loadConfig(secretScanningConfigSpec);
const logger = createLogger('secret-scanning');
const metrics = createMetrics('secret-scanning');
const tracing = await loadTracing('secret-scanning');
const keySource =
  config.SECRET_SCANNING_PUBLIC_KEYS === undefined
    ? fromGitHub({ logger })
    : fromEnvironment(config.SECRET_SCANNING_PUBLIC_KEYS);
const deps: LeakDeps = {
  keys: new DynamoKeyRevocation(
    createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, instrumentation: tracing?.instrumentation }),
    config.API_KEYS_TABLE,
  ),
  environment: config.KEY_ENVIRONMENT,
  notify: leakNotifier({ topicArn: config.ALARM_TOPIC_ARN, logger }),
  logger,
  // Replaced per report by one that counts: one metric line per report, not per token.
  telemetry: { tokenReported: () => undefined },
};

/** Counts a report's tokens, then writes them as one EMF line (a 1,000-token report is one line). */
function reportCounter() {
  const counts = { true_positive: 0, false_positive: 0, revoked: 0 };
  return {
    telemetry: {
      tokenReported(label: 'true_positive' | 'false_positive', revoked: boolean) {
        counts[label] += 1;
        if (revoked) counts.revoked += 1;
      },
    },
    flush() {
      publishMetrics(metrics, [
        { name: 'LeakedKeyTruePositive', unit: MetricUnit.Count, value: counts.true_positive },
        { name: 'LeakedKeyFalsePositive', unit: MetricUnit.Count, value: counts.false_positive },
        { name: 'LeakedKeyRevoked', unit: MetricUnit.Count, value: counts.revoked },
      ]);
    },
  };
}

async function answer(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const requestId = requestIdOf(event);
  if (event.httpMethod !== 'POST') {
    return errorAnswer('method_not_allowed', requestId);
  }
  const body = rawBodyOf(event);
  if (body.length > MAX_REPORT_BYTES) return errorAnswer('payload_too_large', requestId);

  // The signature first: nothing about an unauthenticated body is read or believed.
  const signature = await verifySignatureWith({ headers: headersOf(event), body }, keySource);
  if (!signature.ok) {
    logger.warn('secret-scanning report refused', { request_id: requestId, reason: signature.reason });
    return errorAnswer(
      'unauthorized',
      requestId,
      signature.reason === 'missing_headers'
        ? 'Missing GitHub signature: send Github-Public-Key-Identifier and Github-Public-Key-Signature.'
        : 'The GitHub signature does not verify against GitHub’s published secret-scanning keys.',
    );
  }

  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(body.toString('utf8'));
  } catch {
    return errorAnswer('invalid_json', requestId);
  }
  const report = parseLeakReport(parsedJson);
  if (!report.ok) {
    return errorAnswer(
      'invalid_request',
      requestId,
      'The body must be a JSON array of {token, type, url, source} (at most 1,000 items).',
      report.details,
    );
  }

  const counter = reportCounter();
  const labels = await handleLeakReport(report.report, { ...deps, telemetry: counter.telemetry });
  counter.flush();
  logger.info('secret-scanning report handled', {
    request_id: requestId,
    tokens: labels.length,
    true_positives: labels.filter((item) => item.label === 'true_positive').length,
  });
  return jsonAnswer(200, labels, requestId);
}

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
  .use(tracingMiddleware(tracing))
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    try {
      return await answer(event);
    } catch (error) {
      // A store failure: GitHub retries the report later, and repeats are harmless.
      logger.error('secret-scanning report failed', {
        request_id: requestIdOf(event),
        error_name: error instanceof Error ? error.name : 'unknown',
      });
      return errorAnswer('internal_error', requestIdOf(event));
    }
  });
