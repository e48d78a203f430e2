/**
 * The keys-admin function as ops reach it: the unchanged AWS SDK's InvokeCommand against a
 * local stack's Invoke API. Plaintext keys from create/rotate stay in memory; nothing here
 * prints them (failures name the action and the refusal code only).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { createLambdaClient } from '../../shared/adapters/aws-clients.js';
import type { KeyMetadata } from '../../shared/domain/keys/metadata.js';

export type AdminAnswer =
  | {
      ok: true;
      apiKey?: string;
      key?: KeyMetadata;
      keys?: KeyMetadata[];
      retired?: KeyMetadata[];
      keysUpdated?: number;
      complete?: boolean;
    }
  | { ok: false; error: { code: string; message: string } };

export interface InvokeResult {
  /** `X-Amz-Function-Error` when the function threw (e.g. its DynamoDB is down). */
  functionError: string | undefined;
  answer: AdminAnswer | undefined;
  ms: number;
}

export interface IssuedKey {
  userId: string;
  keyId: string;
  apiKey: string;
}

export interface KeysAdminClient {
  invoke(event: Record<string, unknown>): Promise<InvokeResult>;
  /** Like `invoke`, but a function error or `ok:false` fails the test (without printing any key). */
  expectOk(event: Record<string, unknown>): Promise<Extract<AdminAnswer, { ok: true }>>;
  createUserWithKey(userId: string): Promise<IssuedKey>;
  getKey(userId: string, keyId: string): Promise<KeyMetadata>;
  listKeys(userId: string): Promise<KeyMetadata[]>;
  close(): void;
}

const decoder = new TextDecoder();

export function keysAdminClient(lambdaUrl: string): KeysAdminClient {
  const lambda: LambdaClient = createLambdaClient({ endpoint: lambdaUrl, requestTimeoutMs: 30_000 });
  const clientContext = Buffer.from(JSON.stringify({ custom: { actor: 'reliability-tests' } })).toString(
    'base64',
  );

  async function invoke(event: Record<string, unknown>): Promise<InvokeResult> {
    const started = performance.now();
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: 'keys-admin',
        Payload: JSON.stringify(event),
        ClientContext: clientContext,
      }),
    );
    const text = decoder.decode(result.Payload);
    return {
      functionError: result.FunctionError,
      answer: result.FunctionError ? undefined : (JSON.parse(text) as AdminAnswer),
      ms: performance.now() - started,
    };
  }

  async function expectOk(event: Record<string, unknown>): Promise<Extract<AdminAnswer, { ok: true }>> {
    const { functionError, answer } = await invoke(event);
    if (functionError) throw new Error(`keys-admin ${String(event.action)} failed: ${functionError}`);
    if (!answer?.ok) {
      throw new Error(`keys-admin ${String(event.action)} refused: ${answer?.error.code ?? 'no answer'}`);
    }
    return answer;
  }

  return {
    invoke,
    expectOk,
    async createUserWithKey(userId) {
      await expectOk({ action: 'create-user', userId });
      const created = await expectOk({ action: 'create', userId, name: 'reliability' });
      if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
      return { userId, keyId: created.key.keyId, apiKey: created.apiKey };
    },
    async getKey(userId, keyId) {
      const answer = await expectOk({ action: 'get', userId, keyId });
      if (!answer.key) throw new Error('keys-admin get answered without key metadata');
      return answer.key;
    },
    async listKeys(userId) {
      const answer = await expectOk({ action: 'list', userId, limit: 1000 });
      return answer.keys ?? [];
    },
    close: () => lambda.destroy(),
  };
}
