/**
 * The secret-scanning function's edge: GitHub's POST as API Gateway delivers it (the raw body,
 * the headers in any case) in; its answers are shared/adapters/http/proxy-answers.ts.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** 1,000 reported tokens with GitHub's URLs take ~350 KB; a body far beyond is not GitHub's. */
export const MAX_REPORT_BYTES = 1024 * 1024;

export function requestIdOf(event: Partial<APIGatewayProxyEvent> | null | undefined): string {
  const id = event?.requestContext?.requestId;
  return typeof id === 'string' && id.length > 0 ? id : 'unknown';
}

/** The body exactly as GitHub signed it (the API has no binary media types, so it is text). */
export function rawBodyOf(event: APIGatewayProxyEvent): Buffer {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

export function headersOf(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  return { ...(event.headers ?? {}) };
}
