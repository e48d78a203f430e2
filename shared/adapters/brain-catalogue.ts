/**
 * The brain's model catalogue (SPEC §4): one Invoke of `{"action": "list_models"}`. A brain
 * that answers anything but `{models: [{provider, model}]}` (a function error, its own
 * refusal of a request it does not know) has no catalogue; a failure to reach it is thrown,
 * so the caller retries sooner than it would re-read a catalogue.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { brainCatalogueSchema, LIST_MODELS_ACTION } from '../domain/brain/contract.js';
import type { ReadCatalogue } from '../domain/requests/ports.js';

export interface BrainCatalogueOptions {
  lambda: LambdaClient;
  functionName: string;
  timeoutMs: number;
}

export function createBrainCatalogue(options: BrainCatalogueOptions): ReadCatalogue {
  const decoder = new TextDecoder();
  return async () => {
    const result = await options.lambda.send(
      new InvokeCommand({
        FunctionName: options.functionName,
        InvocationType: 'RequestResponse',
        Payload: JSON.stringify({ action: LIST_MODELS_ACTION }),
      }),
      { abortSignal: AbortSignal.timeout(options.timeoutMs) },
    );
    if (result.FunctionError || !result.Payload) return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(result.Payload));
    } catch {
      return undefined;
    }
    const parsed = brainCatalogueSchema.safeParse(payload);
    return parsed.success ? parsed.data.models : undefined;
  };
}
