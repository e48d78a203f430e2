/**
 * The setup most end-to-end files share: one local stack for the file, a keys-admin client, and
 * a fresh user with one key per test (`keyWith`), so that tests never share a counter. Clients
 * the tests open are closed with the stack (`closeWithStack`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type { LocalStack, LocalStackOptions } from '../../../local/stack.js';
import { type CountingBrain, countingBrain } from '../../support/counting-brain.js';
import { type KeysAdminClient, keysAdminClient } from '../../support/keys-admin-client.js';
import { startTestStack } from './stack.js';

export interface TestKey {
  apiKey: string;
  userId: string;
  keyId: string;
}

export interface KeyedStack {
  /** Set once the file's beforeAll ran. */
  readonly stack: LocalStack;
  readonly admin: KeysAdminClient;
  /** A new user with one key; `grant` is keys-admin's create input (limits, scopes, budget). */
  keyWith(label: string, grant?: Record<string, unknown>): Promise<TestKey>;
  closeWithStack(close: () => Promise<void>): void;
  /** With `countedBrain`: the real reference brain, every invocation recorded by user. */
  readonly brain: CountingBrain;
}

export interface KeyedStackOptions {
  /** Run the stack's reference brain counted (tests/support/counting-brain.ts). */
  countedBrain?: boolean;
}

/** Registers the file's beforeAll/afterAll; call it at the top level of a test file. */
export function useKeyedStack(
  options: LocalStackOptions | (() => LocalStackOptions) = {},
  { countedBrain = false }: KeyedStackOptions = {},
): KeyedStack {
  let stack: LocalStack | undefined;
  let admin: KeysAdminClient | undefined;
  let brain: CountingBrain | undefined;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const stackOptions = typeof options === 'function' ? options() : options;
    if (countedBrain) {
      brain = await countingBrain({ slowFirstMs: 0 });
      stackOptions.handlerOverrides = { ...stackOptions.handlerOverrides, 'reference-brain': brain.handler };
    }
    stack = await startTestStack(stackOptions);
    admin = keysAdminClient(stack.lambdaUrl);
  });

  afterAll(async () => {
    await Promise.all(closers.map((close) => close()));
    admin?.close();
    await stack?.stop();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('useKeyedStack: the stack is not started (used outside a test?)');
    return value;
  };

  return {
    get stack() {
      return started(stack);
    },
    get admin() {
      return started(admin);
    },
    get brain() {
      if (!countedBrain) throw new Error('useKeyedStack: pass { countedBrain: true } to count the brain');
      return started(brain);
    },
    async keyWith(label, grant = {}) {
      const keys = started(admin);
      const userId = `${label}-${randomUUID().slice(0, 8)}`;
      await keys.expectOk({ action: 'create-user', userId });
      const created = await keys.expectOk({ action: 'create', userId, name: label, ...grant });
      if (!created.apiKey || !created.key) throw new Error('keys-admin create answered without a key');
      return { apiKey: created.apiKey, userId, keyId: created.key.keyId };
    },
    closeWithStack(close) {
      closers.push(close);
    },
  };
}

/** The error a call must fail with, as the SDK's own class (`APIError` of openai or Anthropic). */
export async function refusalOf<C extends abstract new (...args: never[]) => unknown>(
  errorClass: C,
  call: Promise<unknown>,
): Promise<InstanceType<C>> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(errorClass);
  return outcome as InstanceType<C>;
}
