/**
 * Streamed calls keep budgets exact (SPEC §3b "Streaming", §5b) on DynamoDB Local: the
 * request processor on the real idempotency and budget stores, a brain that streams its answer
 * and keeps the books of what it paid. The hold is taken before the brain, the payment settled
 * when the stream ends — also when the client left after the first event — and a stream that
 * breaks off after the brain paid keeps its hold (in doubt), never spends it twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Micros, micros } from '../../../../shared/domain/budgets/money.js';
import type { ChatStream } from '../../../../shared/domain/requests/process.js';
import { HttpError } from '../../../../shared/errors.js';
import {
  budgetedCaller,
  budgetInput,
  budgetProcessorOn,
  outcomeOf,
  payingBrain,
  until,
} from '../../../support/budget-processor.js';
import { budgetItemOf, budgetStoreOn } from '../../../support/budgets.js';
import { createTestTables, type TestTables } from '../../../support/dynamo.js';

const HOLD = micros(100_000);
const STREAMED_CHAT = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Tell me about budgets in a few words.' }],
  max_tokens: 64,
  stream: true,
};

let tables: TestTables;
beforeAll(async () => {
  tables = await createTestTables('budget-streamed');
});
afterAll(async () => {
  await tables.drop();
});

async function budgetOf(limit: Micros) {
  const store = budgetStoreOn(tables);
  const item = budgetItemOf({ limit, hold: HOLD, period: 'day', now: new Date() });
  await store.create(item);
  return { store, item };
}

async function storedOf(budgetId: string) {
  const stored = await budgetStoreOn(tables).find(budgetId);
  if (!stored) throw new Error(`budget ${budgetId} missing`);
  return stored;
}

function asStream(value: unknown): ChatStream {
  if (!value || typeof value !== 'object' || !('stream' in value)) throw new Error('expected a stream');
  return value as ChatStream;
}

async function textOf(stream: ChatStream, readAll: boolean): Promise<string> {
  let text = '';
  for await (const event of stream.stream) {
    text += event;
    if (!readAll) break;
  }
  return text;
}

describe('streamed calls on a budget', () => {
  it('30 parallel streamed calls on a budget of exactly 7 holds, half the clients gone after the first event: 7 streams, 23 × 429, spent = what the brain paid, held 0', async () => {
    const { store, item } = await budgetOf(micros(7 * HOLD));
    const brain = payingBrain();
    const processor = budgetProcessorOn(tables, { store, brain });
    const caller = budgetedCaller(item);
    let refused = 0;
    brain.gate = until(() => brain.invocations.length + refused, 30);
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        outcomeOf(
          processor.chat(budgetInput(caller, { body: STREAMED_CHAT }), {}).then(
            async (answer) => {
              const stream = asStream(answer);
              const readAll = index % 2 === 0;
              const text = await textOf(stream, readAll);
              await stream.settled;
              return { text, readAll };
            },
            (error: unknown) => {
              refused += 1;
              throw error;
            },
          ),
        ),
      ),
    );
    const streamed = outcomes.filter((outcome) => outcome.ok);
    expect(streamed).toHaveLength(7);
    for (const outcome of outcomes) {
      if (outcome.ok) continue;
      expect(outcome.error).toBeInstanceOf(HttpError);
      expect((outcome.error as HttpError).code).toBe('budget_exceeded');
    }
    expect(brain.invocations).toHaveLength(7);
    expect(brain.paid.size).toBe(7);
    const spent = brain.totalPaid();
    expect(spent).toBeGreaterThan(0);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent, held: 0, holds: {} });
    // The clients that read to the end saw the whole stream.
    for (const outcome of streamed) {
      const { text, readAll } = (outcome.ok ? outcome.value : {}) as { text: string; readAll: boolean };
      expect(text.endsWith('data: [DONE]\n\n')).toBe(readAll);
    }
  });

  it('a stream that breaks off after the brain paid: an error event, the hold kept in doubt, nothing spent twice', async () => {
    const { store, item } = await budgetOf(micros(7 * HOLD));
    const brain = payingBrain();
    brain.script = () => 'cut';
    const processor = budgetProcessorOn(tables, { store, brain });
    const stream = asStream(
      await processor.chat(
        budgetInput(budgetedCaller(item), { body: STREAMED_CHAT, idempotencyKey: 'cut-1' }),
        {},
      ),
    );
    const text = await textOf(stream, true);
    await stream.settled;
    expect(text).toContain('"error":{"code":"brain_error"');
    expect(text).not.toContain('[DONE]');
    // The brain paid, its final event never came: the hold stands until the call is surely over.
    expect(brain.paid.size).toBe(1);
    expect(await storedOf(item.budget_id)).toMatchObject({ spent: 0, held: HOLD });
    // A repeat of the Idempotency-Key meanwhile is refused (in doubt), the brain not asked again.
    const repeat = await outcomeOf(
      processor.chat(budgetInput(budgetedCaller(item), { body: STREAMED_CHAT, idempotencyKey: 'cut-1' }), {}),
    );
    expect(repeat.ok).toBe(false);
    expect((repeat as { error: HttpError }).error.code).toBe('idempotency_conflict');
    expect(brain.invocations).toHaveLength(1);
  });
});
