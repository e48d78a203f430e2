/**
 * API Gateway's gateway responses, all in the error envelope (SPEC §3, §7). The stack
 * renders them as mapping templates; the local runtime renders the very same templates.
 */
import {
  DEFAULT_MESSAGES,
  type ErrorCode,
  openAiTypeOf,
  SECURITY_HEADERS,
  SHOULD_RETRY_HEADER,
  shouldRetry,
  statusOf,
} from '../shared/errors.js';
import { routeList } from './routes.js';

export type GatewayResponseType =
  | 'ACCESS_DENIED'
  | 'UNAUTHORIZED'
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'THROTTLED'
  | 'REQUEST_TOO_LARGE'
  | 'INTEGRATION_TIMEOUT'
  | 'AUTHORIZER_FAILURE'
  | 'AUTHORIZER_CONFIGURATION_ERROR'
  | 'BAD_REQUEST_BODY'
  | 'WAF_FILTERED'
  | 'DEFAULT_4XX'
  | 'DEFAULT_5XX';

export interface GatewayResponseDefinition {
  type: GatewayResponseType;
  code: ErrorCode;
  statusCode: number;
  /** Rendered from what the authorizer's Deny carries: the whole body (`body`) and whether to retry. */
  fromAuthorizer: boolean;
  /** A message of its own where the code's default would mislead (no quotes: it goes into JSON verbatim). */
  message?: string;
  /**
   * Keep API Gateway's own status (e.g. its 502 for a malformed proxy answer) instead of
   * `statusCode`, which then only applies where the gateway has none of its own (local runtime).
   * Every DEFAULT_* response keeps it: on AWS a status there rewrites the status of every
   * response type it stands in for (SPEC §7).
   */
  keepGatewayStatus?: boolean;
  /** A `Retry-After` the answer carries (whole seconds): the stage throttle's 1 (SPEC §8). */
  retryAfterSeconds?: number;
}

const response = (
  type: GatewayResponseType,
  code: ErrorCode,
  options: {
    fromAuthorizer?: boolean;
    message?: string;
    keepGatewayStatus?: boolean;
    retryAfterSeconds?: number;
  } = {},
): GatewayResponseDefinition => ({
  type,
  code,
  statusCode: statusOf(code),
  fromAuthorizer: options.fromAuthorizer ?? false,
  ...(options.message ? { message: options.message } : {}),
  ...(options.keepGatewayStatus ? { keepGatewayStatus: true } : {}),
  ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
});

export const GATEWAY_RESPONSES: readonly GatewayResponseDefinition[] = [
  response('ACCESS_DENIED', 'unauthorized', { fromAuthorizer: true }),
  response('UNAUTHORIZED', 'unauthorized'),
  // API Gateway's answer to a path no route has: it names every route, so a wrong base URL is plain.
  response('MISSING_AUTHENTICATION_TOKEN', 'not_found', {
    message: `No such path. The API serves ${routeList()}.`,
  }),
  // The stage's token bucket refills every second: one second is always enough to try again.
  response('THROTTLED', 'rate_limited', { retryAfterSeconds: 1 }),
  response('REQUEST_TOO_LARGE', 'payload_too_large'),
  response('INTEGRATION_TIMEOUT', 'brain_timeout'),
  response('AUTHORIZER_FAILURE', 'internal_error'),
  response('AUTHORIZER_CONFIGURATION_ERROR', 'internal_error'),
  response('BAD_REQUEST_BODY', 'invalid_request', { message: 'Request body does not match the schema.' }),
  // The stage's web ACL blocked the request (staging, prod; infra/constructs/keygate-waf.ts).
  // Which rule matched stays in WAF's metrics: the caller learns nothing of the rules.
  response('WAF_FILTERED', 'forbidden', {
    message: 'The request was blocked by the web application firewall.',
  }),
  // Any other gateway-made 4xx (none is expected with this API's configuration): the envelope
  // only, with API Gateway's own status (400 for unparsable HTTP, which the local runtime uses).
  response('DEFAULT_4XX', 'invalid_request', {
    message: 'The request was refused by the API gateway; check the method, path, headers and body.',
    keepGatewayStatus: true,
  }),
  // 5xx API Gateway makes itself (a failed or malformed integration answer is its 502).
  response('DEFAULT_5XX', 'internal_error', { keepGatewayStatus: true }),
];

export function gatewayResponse(type: GatewayResponseType): GatewayResponseDefinition {
  const found = GATEWAY_RESPONSES.find((candidate) => candidate.type === type);
  if (!found) throw new Error(`no gateway response for ${type}`);
  return found;
}

/** Headers of a gateway response as API Gateway `responseParameters` values (quoted literals or context refs). */
export function gatewayResponseHeaders(definition: GatewayResponseDefinition): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': "'application/json'",
    'X-Request-Id': 'context.requestId',
  };
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers[name] = `'${value}'`;
  if (definition.code === 'unauthorized') headers['WWW-Authenticate'] = "'Bearer'";
  if (definition.retryAfterSeconds !== undefined)
    headers['Retry-After'] = `'${definition.retryAfterSeconds}'`;
  // A Deny says itself whether a retry can help (only "could not be verified right now" can).
  headers[SHOULD_RETRY_HEADER] = definition.fromAuthorizer
    ? 'context.authorizer.shouldRetry'
    : `'${shouldRetry(definition.code, definition.retryAfterSeconds !== undefined)}'`;
  return headers;
}

/** The caller-facing message of a gateway response; `authorizerMessage` is what a Deny's context carried. */
export function gatewayResponseMessage(
  definition: GatewayResponseDefinition,
  authorizerMessage?: string,
): string {
  if (definition.fromAuthorizer && authorizerMessage) return authorizerMessage;
  return definition.message ?? DEFAULT_MESSAGES[definition.code];
}

/**
 * The envelope as a gateway response template (simple `$context` substitution, no VTL); messages
 * contain no quotes by design. A Deny's is the whole body the authorizer wrote for its route
 * (functions/authorizer/policy.ts): keygate's envelope, or Anthropic's on /v1/messages.
 */
export function gatewayResponseTemplate(definition: GatewayResponseDefinition): string {
  if (definition.fromAuthorizer) return '$context.authorizer.body';
  const message = gatewayResponseMessage(definition);
  return `{"success":false,"error":{"code":"${definition.code}","type":"${openAiTypeOf(definition.code)}","message":"${message}"},"request_id":"$context.requestId"}`;
}
