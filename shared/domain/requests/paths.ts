/**
 * The paths of the requests function's routes, in one module without zod, so the authorizer
 * (which answers each route's refusals in that route's shape) can know them without bundling a
 * schema. The route table (infra/routes.ts) and the wire formats import them from here.
 */

/** keygate's own API (SPEC §3). */
export const API_REQUESTS_PATH = '/api/v1/requests';
/** OpenAI's path, so OpenAI SDKs reach it with the base URL `https://<host>/v1` (SPEC §3b). */
export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';
/** OpenAI's model list (SPEC §3b). */
export const MODELS_PATH = '/v1/models';
/** Anthropic's Messages API, so Anthropic SDKs reach it with the base URL `https://<host>` (SPEC §3d). */
export const MESSAGES_PATH = '/v1/messages';
/** Anthropic's token counting: answered without the brain and not counted (SPEC §3d). */
export const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';
/** OpenAI's Responses API (SPEC §3e). */
export const RESPONSES_PATH = '/v1/responses';

/** The routes whose errors are in Anthropic's shape (SPEC §3d), gateway-made refusals included. */
export const ANTHROPIC_PATHS: readonly string[] = [MESSAGES_PATH, COUNT_TOKENS_PATH];

/** The routes a call is not counted on (no usage_count, no limits spent): nothing is asked of the brain. */
export const UNCOUNTED_PATHS: readonly string[] = [COUNT_TOKENS_PATH];
