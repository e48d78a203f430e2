/** External request → brain request (SPEC §3; seed tasks 8.1–8.7). */

import type { BrainRequest, ChatRequestParams } from '../brain/contract.js';
import type { KeyBudgetRef } from '../budgets/model.js';
import type { KeyGrant } from '../keys/scopes.js';
import { CHAT_PARAM_FIELDS } from './openai-chat-schema.js';
import type { RequestFields } from './schema.js';

/**
 * Identity and grant from the authorizer context: the only source of user, key, default
 * project, project binding and scopes (SPEC §5), never the body.
 */
export interface CallerIdentity extends KeyGrant {
  userId: string;
  keyId: string;
  /** The key's spend budget (SPEC §5b), when it has one. */
  budget?: KeyBudgetRef;
}

export function toBrainRequest(body: RequestFields, caller: CallerIdentity, requestId: string): BrainRequest {
  const requestParams: ChatRequestParams = {};
  if (body.messages !== undefined) requestParams.messages = body.messages;
  if (body.prompt !== undefined) requestParams.prompt = body.prompt;
  if (body.temperature !== undefined) requestParams.temperature = body.temperature;
  if (body.max_tokens !== undefined) requestParams.max_tokens = body.max_tokens;
  if (body.top_p !== undefined) requestParams.top_p = body.top_p;
  // OpenAI's other fields (only POST /v1/chat/completions has them), under their own names.
  for (const field of CHAT_PARAM_FIELDS) {
    if (body[field] !== undefined) Object.assign(requestParams, { [field]: body[field] });
  }
  return {
    request_id: requestId,
    user_id: caller.userId,
    key_id: caller.keyId,
    project_id: body.project_id ?? caller.projectId,
    agent_id: body.agent_id ?? null,
    api_provider: body.provider,
    model_name: body.model,
    operation_type: body.operation_type,
    request_params: body.native_params ?? requestParams,
    metadata: body.metadata ?? {},
    request_source: 'api',
  };
}
