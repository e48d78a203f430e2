/**
 * One CLI action in as many keys-admin calls as it takes. `usage` reads every page (1000 keys
 * a call) unless the operator picked one with --limit, --next-token or --key. `suspend-user`
 * and `reactivate-user` repeat the same event while the answer says `complete: false` — safe,
 * as SPEC §6 makes both resumable and idempotent — at most `MAX_REPEATED_CALLS` times. Every
 * other action is one call. Each call is a progress step (./progress.ts); the answers merge
 * into the one answer the CLI prints, with a plain summary line for the long actions.
 */
import { MAX_LIST_LIMIT } from '../shared/domain/admin/events.js';
import type { KeyUsage } from '../shared/domain/keys/usage.js';
import type { CliCommand } from './args.js';
import type { InvokeResult } from './invoke.js';
import type { Progress } from './progress.js';
import type { OkAnswer } from './render.js';

/** Calls of one suspension or reactivation before the CLI stops and says to repeat it. */
export const MAX_REPEATED_CALLS = 50;

export interface RunDeps {
  invoke(event: Record<string, unknown>): Promise<InvokeResult>;
  progress: Progress;
  /** Says what the calls before a failing one did (the CLI writes it to stderr). */
  note(line: string): void;
  maxCalls?: number;
}

export interface ActionRun {
  /** The merged answer of every call, or the result of the call that did not answer ok. */
  result: InvokeResult;
  calls: number;
  /** One plain line saying what the action did; null when it failed or has none. */
  summary: string | null;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

function okAnswerOf(result: InvokeResult): OkAnswer | undefined {
  if (result.functionError) return undefined;
  const answer = result.payload as { ok?: unknown } | null;
  return answer?.ok === true ? (answer as OkAnswer) : undefined;
}

/** `usage` without --key, --limit or --next-token: every page. */
const readsAllPages = (event: Record<string, unknown>) =>
  event.keyId === undefined && event.limit === undefined && event.nextToken === undefined;

function summaryOf(label: string, action: CliCommand['action'], answer: OkAnswer): string | null {
  if (action === 'usage') {
    const keys = plural(answer.usage?.length ?? 0, 'key');
    return answer.nextToken ? `${label}: ${keys} (more pages follow)` : `${label}: ${keys}`;
  }
  if (action === 'rotate' && answer.key) {
    return `${label}: key ${answer.key.keyId} issued, ${answer.retired?.length ?? 0} retired`;
  }
  return null;
}

export async function runAction(
  command: Pick<CliCommand, 'action' | 'event'>,
  deps: RunDeps,
): Promise<ActionRun> {
  const label = `${command.action} ${String(command.event.userId)}`;
  const waiting = `${label}: waiting for keys-admin…`;
  let calls = 0;
  /** What the calls so far did, said if a later one fails. */
  let done: string | undefined;

  const call = async (event: Record<string, unknown>, line: string, immediately: boolean) => {
    calls += 1;
    const failed = () => {
      if (!done) return;
      deps.progress.clear();
      deps.note(`${done} before this failure.`);
    };
    let result: InvokeResult;
    try {
      result = await deps.progress.step(line, () => deps.invoke(event), { immediately });
    } catch (error) {
      failed();
      throw error;
    }
    const answer = okAnswerOf(result);
    if (!answer) failed();
    return { result, answer };
  };

  if (command.action === 'usage' && readsAllPages(command.event)) {
    const usage: KeyUsage[] = [];
    let event: Record<string, unknown> = { ...command.event, limit: MAX_LIST_LIMIT };
    for (;;) {
      const line = calls === 0 ? waiting : `${label}: ${usage.length} keys read…`;
      const { result, answer } = await call(event, line, calls > 0);
      if (!answer) return { result, calls, summary: null };
      usage.push(...(answer.usage ?? []));
      done = `${label}: ${plural(usage.length, 'key')} read in ${plural(calls, 'call')}`;
      if (!answer.nextToken) {
        const merged: OkAnswer = { ...answer, usage, nextToken: null };
        return { result: { payload: merged }, calls, summary: summaryOf(label, 'usage', merged) };
      }
      event = { ...event, nextToken: answer.nextToken };
    }
  }

  if (command.action === 'suspend-user' || command.action === 'reactivate-user') {
    const maxCalls = deps.maxCalls ?? MAX_REPEATED_CALLS;
    let keysUpdated = 0;
    for (;;) {
      const line = calls === 0 ? waiting : `${label}: ${keysUpdated} keys updated (call ${calls + 1})…`;
      const { result, answer } = await call(command.event, line, calls > 0);
      if (!answer) return { result, calls, summary: null };
      keysUpdated += answer.keysUpdated ?? 0;
      const complete = answer.complete !== false;
      done = `${label}: ${plural(keysUpdated, 'key')} updated in ${plural(calls, 'call')}`;
      if (complete || calls >= maxCalls) {
        return {
          result: { payload: { ...answer, keysUpdated } },
          calls,
          summary: `${done} (${complete ? 'complete' : 'not complete: repeat the same command to resume'})`,
        };
      }
    }
  }

  // Rotating all of a user's keys is one invocation that may take long: show it from the start.
  const long = command.action === 'rotate' && command.event.keyId === undefined;
  const { result, answer } = await call(command.event, waiting, long);
  return { result, calls, summary: answer ? summaryOf(label, command.action, answer) : null };
}
