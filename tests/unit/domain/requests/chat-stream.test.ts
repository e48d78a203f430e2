/**
 * Streamed chat completions through the request processor (SPEC §3b "Streaming"): the brain's
 * events (here the reference brain's own streamed answer) become OpenAI's chunks; the joined
 * content equals the plain answer's; a failure before the decision is an ordinary error, one
 * after it an error event without `[DONE]`; the call is settled (answer stored, claim in
 * doubt) whether or not anyone reads the stream; a repeat of a finished streamed call replays
 * it as a stream. The ports are in-memory fakes; budgets are proven on DynamoDB Local
 * (tests/integration/domain/requests/streamed-budgets.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import { referenceBrainEvents } from '../../../../functions/reference-brain/events.js';
import { type BrainRequest, brainDecisionAnswerSchema } from '../../../../shared/domain/brain/contract.js';
import { type BrainStreamEvent, StreamAssembler } from '../../../../shared/domain/brain/stream.js';
import { SSE_DONE } from '../../../../shared/domain/requests/chat-stream.js';
import { BrainCallError, type InvokeBrainStream } from '../../../../shared/domain/requests/ports.js';
import {
  type ChatStream,
  createRequestProcessor,
  type RequestAnswer,
  type RequestInput,
} from '../../../../shared/domain/requests/process.js';
import type { CallerIdentity } from '../../../../shared/domain/requests/transform.js';
import { HttpError } from '../../../../shared/errors.js';
import { FakeIdempotencyStore } from '../../../support/fake-idempotency-store.js';

const CALLER: CallerIdentity = { userId: 'user-1', keyId: 'key_abc', projectId: 'proj', projectBound: false };

function processorWith(stream: InvokeBrainStream) {
  const idempotency = new FakeIdempotencyStore();
  const streamed: BrainRequest[] = [];
  const processor = createRequestProcessor({
    invokeBrain: async (request) => brainDecisionAnswerSchema.parse(await referenceBrain(request)),
    invokeBrainStream: (request) => {
      streamed.push(request);
      return stream(request);
    },
    idempotency,
    brainLimits: { waitMs: 1000, maxDurationMs: 2000 },
    logger: { info: () => {}, error: () => {} },
    telemetry: { brainOutcome: () => {}, scopeRefused: () => {} },
  });
  return { processor, idempotency, streamed };
}

/** The reference brain's streamed answer, its failures as the stream client reports them (the brain ran). */
const referenceStream: InvokeBrainStream = async function* (request) {
  try {
    yield* referenceBrainEvents(request, { paceMs: 1 });
  } catch (error) {
    throw new BrainCallError('brain_error', true, error);
  }
};

let sequence = 0;
function input(body: Record<string, unknown>, idempotencyKey?: string): RequestInput {
  sequence += 1;
  return { caller: CALLER, requestId: `req-${sequence}`, idempotencyKey, body };
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in five words.' }] };

function asStream(answer: RequestAnswer | ChatStream): ChatStream {
  if (!('stream' in answer)) throw new Error('expected a stream');
  return answer;
}

/** Every event of a stream, the `data:` of each parsed (`[DONE]` kept as the string). */
async function eventsOf(stream: ChatStream): Promise<unknown[]> {
  let text = '';
  for await (const event of stream.stream) text += event;
  return text
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      const data = block.slice('data: '.length);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}

type Chunk = {
  id: string;
  object: string;
  choices: Array<{
    delta: { role?: string; content?: string; tool_calls?: unknown[] };
    finish_reason: string | null;
  }>;
  usage?: unknown;
};

const contentOf = (events: unknown[]) =>
  (events.filter((event) => event !== '[DONE]' && !(event as { error?: unknown }).error) as Chunk[])
    .flatMap((event) => event.choices.map((choice) => choice.delta.content ?? ''))
    .join('');

describe('a streamed chat completion', () => {
  it("streams OpenAI's chunks: role first, content deltas, finish_reason last, then [DONE]; joined = the plain answer", async () => {
    const { processor } = processorWith(referenceStream);
    const plain = (await processor.chat(input(CHAT), {})) as RequestAnswer;
    const stream = asStream(await processor.chat(input({ ...CHAT, stream: true }), {}));
    const events = await eventsOf(stream);
    await stream.settled;

    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Chunk[];
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({
        id: `chatcmpl-${stream.requestId}`,
        object: 'chat.completion.chunk',
        model: 'gpt-4o-mini',
      });
    }
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(chunks.slice(0, -1).every((chunk) => chunk.choices[0]?.finish_reason === null)).toBe(true);
    const plainContent = (plain.body as { choices: Array<{ message: { content: string } }> }).choices[0]
      ?.message.content;
    expect(contentOf(events)).toBe(plainContent);
  });

  it('with stream_options.include_usage: usage null on every chunk, then one chunk with empty choices and the usage', async () => {
    const { processor } = processorWith(referenceStream);
    const stream = asStream(
      await processor.chat(input({ ...CHAT, stream: true, stream_options: { include_usage: true } }), {}),
    );
    const chunks = (await eventsOf(stream)).slice(0, -1) as Chunk[];
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
    });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('streams tool calls as OpenAI does and ends with finish_reason tool_calls', async () => {
    const { processor } = processorWith(referenceStream);
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    const stream = asStream(
      await processor.chat(input({ ...CHAT, model: 'reference/test-tools', tools, stream: true }), {}),
    );
    const chunks = (await eventsOf(stream)).slice(0, -1) as Chunk[];
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    const assembler = new StreamAssembler();
    for (const chunk of chunks) {
      const toolCalls = chunk.choices[0]?.delta.tool_calls as BrainStreamEvent[] | undefined;
      if (toolCalls) assembler.add({ type: 'delta', tool_calls: toolCalls as never });
    }
    const response = assembler.response({ type: 'final', success: true, payment: null, message: '' });
    const [call] = (response as { tool_calls: unknown }).tool_calls as Array<{
      id: string;
      function: { name: string; arguments: string };
    }>;
    expect(call?.function.name).toBe('get_weather');
    expect(JSON.parse(call?.function.arguments ?? '')).toEqual({ city: expect.any(String) });
    expect(call?.id).toMatch(/.+/);
  });

  it('a decision other than approved is refused 403 before any byte, as the plain call is', async () => {
    const { processor } = processorWith(referenceStream);
    const error = await processor
      .chat(input({ ...CHAT, model: 'reference/test-reject', stream: true }), {})
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).code).toBe('forbidden');
  });

  it('a failure before the decision is the ordinary error (the claim released when the brain did not act)', async () => {
    const { processor, idempotency } = processorWith(async function* () {
      yield* [];
      throw new BrainCallError('brain_unavailable', false, new Error('throttled'));
    });
    const error = await processor.chat(input({ ...CHAT, stream: true }, 'idem-before'), {}).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect((error as HttpError).code).toBe('brain_unavailable');
    expect(idempotency.calls).toEqual(['begin idem-before', 'release']);
  });

  it('a failure mid-stream (test-stream-error): an SSE error event, no [DONE], the claim in doubt', async () => {
    const { processor, idempotency } = processorWith(referenceStream);
    const stream = asStream(
      await processor.chat(
        input({ ...CHAT, model: 'reference/test-stream-error', stream: true }, 'idem-mid'),
        {},
      ),
    );
    const events = await eventsOf(stream);
    await stream.settled;
    expect(events).not.toContain('[DONE]');
    expect(events.at(-1)).toEqual({
      error: { code: 'brain_error', type: 'api_error', message: expect.any(String) },
    });
    expect(contentOf(events).length).toBeGreaterThan(0);
    expect(idempotency.calls).toEqual(['begin idem-mid', 'in doubt']);
  });

  it('is read from the brain to its end and stored when nobody reads it (a client gone)', async () => {
    const { processor, idempotency } = processorWith(referenceStream);
    const stream = asStream(await processor.chat(input({ ...CHAT, stream: true }, 'idem-gone'), {}));
    // The client reads the first event and leaves.
    for await (const _event of stream.stream) break;
    await stream.settled;
    expect(idempotency.calls).toEqual(['begin idem-gone', 'complete']);
  });

  it('a repeat of a finished streamed call replays it as a stream, same id and content, the brain not asked again', async () => {
    const { processor, streamed } = processorWith(referenceStream);
    const first = asStream(await processor.chat(input({ ...CHAT, stream: true }, 'idem-replay'), {}));
    const firstEvents = await eventsOf(first);
    await first.settled;
    const repeat = asStream(await processor.chat(input({ ...CHAT, stream: true }, 'idem-replay'), {}));
    const repeatEvents = await eventsOf(repeat);
    expect(repeat.replayed).toBe(true);
    expect(repeat.requestId).toBe(first.requestId);
    expect(contentOf(repeatEvents)).toBe(contentOf(firstEvents));
    expect(repeatEvents.at(-1)).toBe('[DONE]');
    expect((repeatEvents[0] as Chunk).id).toBe((firstEvents[0] as Chunk).id);
    expect(streamed).toHaveLength(1);
    // And as a plain answer: the same completion.
    const plain = (await processor.chat(input(CHAT, 'idem-replay'), {})) as RequestAnswer;
    expect(
      (plain.body as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content,
    ).toBe(contentOf(firstEvents));
  });

  it('a repeat while the streamed call still runs is 409 with Retry-After, the brain not asked again', async () => {
    const { processor, streamed } = processorWith(referenceStream);
    const first = asStream(await processor.chat(input({ ...CHAT, stream: true }, 'idem-running'), {}));
    const repeat = await processor.chat(input({ ...CHAT, stream: true }, 'idem-running'), {}).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect((repeat as HttpError).code).toBe('idempotency_conflict');
    expect((repeat as HttpError).headers['Retry-After']).toMatch(/^\d+$/);
    await eventsOf(first);
    await first.settled;
    expect(streamed).toHaveLength(1);
  });

  it('SSE_DONE is the literal OpenAI end marker', () => {
    expect(SSE_DONE).toBe('data: [DONE]\n\n');
  });
});
