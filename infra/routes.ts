/**
 * The API's one route table and authorizer wiring. The CDK stack builds API Gateway from
 * these and the local runtime emulates API Gateway from these (gateway responses: ./gateway-responses.ts).
 */
import {
  API_REQUESTS_PATH,
  CHAT_COMPLETIONS_PATH,
  COUNT_TOKENS_PATH,
  MESSAGES_PATH,
  MODELS_PATH,
  RESPONSES_PATH,
} from '../shared/domain/requests/paths.js';
import type { FunctionName } from './functions.js';

/** GitHub secret scanning's partner endpoint (SPEC §3c). */
export const SECRET_SCANNING_PATH = '/api/v1/secret-scanning/github';

/** Which body a route takes: each has its own zod schema, hence its own model and OpenAPI entry. */
export type RequestBodyName =
  | 'requests'
  | 'chat-completions'
  | 'anthropic-messages'
  | 'anthropic-count-tokens'
  | 'responses'
  | 'secret-scanning';

export interface Route {
  path: string;
  /** The JSON body its POST takes; absent for a route read with GET. */
  body?: RequestBodyName;
  /** Methods the function implements; every other method is routed to it too and answered 405. */
  methods: readonly string[];
  handler: FunctionName;
  /**
   * Behind the REQUEST authorizer (an API key). `false`: authorization NONE, so the function
   * authenticates each call itself (and answers 405 to other methods without any check first).
   */
  authorized: boolean;
  /**
   * `STREAM`: API Gateway invokes the function with InvokeWithResponseStream and passes its
   * answer on as it is written (SPEC §7, the handler streams); absent: buffered, as Invoke.
   */
  responseTransfer?: 'STREAM';
}

/**
 * The requests function streams its answers (Lambda response streaming: a function streams or
 * does not), so each of its routes is a STREAM integration; a plain answer is one JSON body.
 */
const REQUESTS_STREAM = { handler: 'requests', authorized: true, responseTransfer: 'STREAM' } as const;

export const ROUTES: readonly Route[] = [
  { path: API_REQUESTS_PATH, body: 'requests', methods: ['POST'], ...REQUESTS_STREAM },
  // The same function and pipeline; only the body and the answer are OpenAI's (SPEC §3b).
  { path: CHAT_COMPLETIONS_PATH, body: 'chat-completions', methods: ['POST'], ...REQUESTS_STREAM },
  // OpenAI's model list (SPEC §3b): the brain's catalogue as this key may use it.
  { path: MODELS_PATH, methods: ['GET'], ...REQUESTS_STREAM },
  // Anthropic's Messages API (SPEC §3d), and its token count (no brain call, not counted).
  { path: MESSAGES_PATH, body: 'anthropic-messages', methods: ['POST'], ...REQUESTS_STREAM },
  { path: COUNT_TOKENS_PATH, body: 'anthropic-count-tokens', methods: ['POST'], ...REQUESTS_STREAM },
  // OpenAI's Responses API (SPEC §3e): the same brain request as chat completions.
  { path: RESPONSES_PATH, body: 'responses', methods: ['POST'], ...REQUESTS_STREAM },
  // GitHub secret scanning reports leaked keys here (SPEC §3c): no API key, GitHub's ECDSA
  // signature over the body, which the function checks.
  {
    path: SECRET_SCANNING_PATH,
    body: 'secret-scanning',
    methods: ['POST'],
    handler: 'secret-scanning',
    authorized: false,
  },
];

/** Every route as `METHOD path`: what the 404 of an unknown path names. */
export function routeList(routes: readonly Route[] = ROUTES): string {
  return routes.map((route) => `${route.methods.join('|')} ${route.path}`).join(', ');
}

/** REQUEST authorizer: it reads either header, so no identity sources and no result cache. */
export const AUTHORIZER = {
  handler: 'authorizer' as FunctionName,
  type: 'REQUEST' as const,
  identitySources: [] as string[],
  resultsCacheTtlSeconds: 0,
};

/** API Gateway's limits that the local runtime enforces too. */
export const GATEWAY_LIMITS = {
  maxPayloadBytes: 10 * 1024 * 1024,
  integrationTimeoutMs: 29_000,
};
