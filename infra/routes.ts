/**
 * The API's one route table and authorizer wiring. The CDK stack builds API Gateway from
 * these and the local runtime emulates API Gateway from these (gateway responses: ./gateway-responses.ts).
 */
import { CHAT_COMPLETIONS_PATH } from '../shared/domain/requests/chat-completions.js';
import type { FunctionName } from './functions.js';

/** Which body a route takes: each has its own zod schema, hence its own model and OpenAPI entry. */
export type RequestBodyName = 'requests' | 'chat-completions';

export interface Route {
  path: string;
  body: RequestBodyName;
  /** Methods the function implements; every other method is routed to it too and answered 405. */
  methods: readonly string[];
  handler: FunctionName;
  authorized: boolean;
}

export const ROUTES: readonly Route[] = [
  { path: '/api/v1/requests', body: 'requests', methods: ['POST'], handler: 'requests', authorized: true },
  // The same function and pipeline; only the body and the answer are OpenAI's (SPEC §3b).
  {
    path: CHAT_COMPLETIONS_PATH,
    body: 'chat-completions',
    methods: ['POST'],
    handler: 'requests',
    authorized: true,
  },
];

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
