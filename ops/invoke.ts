/**
 * The Lambda Invoke calls the CLI makes, with the unchanged AWS SDK client: each event goes
 * to the target (resolved once, however many calls an action takes), and the caller's
 * identity rides in the client context so keys-admin can name who did it in its audit line.
 * Transport failures become `TargetError`s with a hint; the function's own answer (or error)
 * is returned for the caller to judge.
 */
import { hostname, userInfo } from 'node:os';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { createLambdaClient } from '../shared/adapters/aws-clients.js';
import { deployedFunctionName, type Target, TargetError } from './target.js';

export interface InvokeResult {
  functionError?: string;
  payload: unknown;
}

/** Who runs the CLI, for keys-admin's audit line. */
export function actor(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

/** Invokes keys-admin at one target: the function name and client are resolved once, for every call. */
export interface Invoker {
  invoke(event: Record<string, unknown>): Promise<InvokeResult>;
  close(): void;
}

interface Connection {
  lambda: LambdaClient;
  functionName: string;
  where: string;
}

async function connect(target: Target): Promise<Connection> {
  if (target.kind === 'stage') {
    const functionName = await deployedFunctionName(target.stage);
    return {
      functionName,
      // One attempt, like the local client: a retried create or rotate could issue a second key.
      lambda: new LambdaClient({ maxAttempts: 1 }),
      where: `${functionName} (stage ${target.stage})`,
    };
  }
  return {
    functionName: 'keys-admin',
    lambda: createLambdaClient({ endpoint: target.endpoint, requestTimeoutMs: 30_000 }),
    where: `the local Invoke API at ${target.endpoint}`,
  };
}

export function createInvoker(target: Target): Invoker {
  let connection: Promise<Connection> | undefined;
  return {
    async invoke(event) {
      connection ??= connect(target);
      const { lambda, functionName, where } = await connection;
      try {
        const result = await lambda.send(
          new InvokeCommand({
            FunctionName: functionName,
            InvocationType: 'RequestResponse',
            Payload: JSON.stringify(event),
            ClientContext: Buffer.from(JSON.stringify({ custom: { actor: actor() } })).toString('base64'),
          }),
        );
        const text = result.Payload ? new TextDecoder().decode(result.Payload) : 'null';
        let payload: unknown;
        try {
          payload = JSON.parse(text);
        } catch {
          payload = text;
        }
        return result.FunctionError ? { functionError: result.FunctionError, payload } : { payload };
      } catch (error) {
        const code = (error as { code?: string; cause?: { code?: string } }).code;
        const message = error instanceof Error ? error.message : String(error);
        // Locally, a refused connection almost always means the runtime is not started.
        if (target.kind === 'local' && (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message))) {
          throw new TargetError(
            `Cannot reach ${where}: is \`npm start\` running? (Or point --endpoint at another local Invoke API, or use --stage NAME.)`,
          );
        }
        throw new TargetError(`Invoking ${where} failed: ${message}`);
      }
    },
    close() {
      // A connection that failed to resolve has no client to close.
      connection?.then(
        ({ lambda }) => lambda.destroy(),
        () => undefined,
      );
    },
  };
}
