/** Brain fixtures: a valid brain request, and Lambda Invoke outputs as the SDK returns them. */
import type { InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { referenceBrain } from '../../functions/reference-brain/brain.js';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';

export function brainRequest(overrides: Partial<BrainRequest> = {}): BrainRequest {
  return {
    request_id: 'req-0001',
    user_id: 'user-1',
    key_id: 'key_abc123',
    project_id: 'proj-1',
    agent_id: null,
    api_provider: 'openai',
    model_name: 'gpt-4o-mini',
    operation_type: 'chat',
    request_params: { messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 64 },
    metadata: {},
    request_source: 'api',
    ...overrides,
  };
}

const encoder = new TextEncoder();

/** What `LambdaClient.send(InvokeCommand)` resolves to for a payload (text or JSON value). */
export function invokeOutput(
  payload: unknown,
  extra: Partial<Omit<InvokeCommandOutput, 'Payload'>> = {},
): InvokeCommandOutput {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return {
    StatusCode: 200,
    ExecutedVersion: '$LATEST',
    Payload: encoder.encode(text) as InvokeCommandOutput['Payload'],
    $metadata: { httpStatusCode: 200 },
    ...extra,
  };
}

/** Runs the reference brain on an Invoke payload and answers as Lambda would (errors as function errors). */
export async function referenceBrainInvoke(payload: unknown, stallMs = 5): Promise<InvokeCommandOutput> {
  const text = payload instanceof Uint8Array ? new TextDecoder().decode(payload) : String(payload);
  try {
    return invokeOutput(await referenceBrain(JSON.parse(text), { stallMs }));
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    return invokeOutput(
      { errorType: failure.name, errorMessage: failure.message, trace: [] },
      { FunctionError: 'Unhandled' },
    );
  }
}
