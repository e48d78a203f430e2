/**
 * The reference brain, streamed (SPEC §4 v3): the events of shared/domain/brain/stream.ts,
 * the same answer as the plain brain (content, tool calls, ids, payment), paced so the first
 * delta leaves early; test-stream-error breaks off after its first delta.
 */
import { describe, expect, it } from 'vitest';
import { referenceBrain, TooManyRequestsException } from '../../../../functions/reference-brain/brain.js';
import {
  ReferenceBrainStreamError,
  type ReferenceBrainStreamOptions,
  referenceBrainEvents,
  splitText,
  UnstreamableAnswer,
} from '../../../../functions/reference-brain/events.js';
import {
  type BrainDecisionAnswer,
  type BrainRequest,
  brainDecisionAnswerSchema,
  brainFailureAnswerSchema,
} from '../../../../shared/domain/brain/contract.js';
import {
  type BrainStreamEvent,
  brainStreamEventSchema,
  type DeltaEvent,
  type FinalEvent,
} from '../../../../shared/domain/brain/stream.js';
import { chatChoiceOf, chatUsageOf } from '../../../../shared/domain/requests/chat-completions.js';
import { brainRequest } from '../../../support/brain.js';

const FAST = { paceMs: 0 };

async function eventsOf(
  request: unknown,
  options: ReferenceBrainStreamOptions = FAST,
): Promise<BrainStreamEvent[]> {
  const events: BrainStreamEvent[] = [];
  for await (const event of referenceBrainEvents(request, options)) events.push(event);
  return events;
}

const plainAnswer = async (request: BrainRequest): Promise<BrainDecisionAnswer> =>
  brainDecisionAnswerSchema.parse(await referenceBrain(request));

const deltasOf = (events: BrainStreamEvent[]) =>
  events.filter((event): event is DeltaEvent => event.type === 'delta');

/** What a reader assembles from the deltas: the text and each call's id, name and arguments. */
function assemble(events: BrainStreamEvent[]) {
  const calls: Array<{ id?: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  let content = '';
  for (const delta of deltasOf(events)) {
    content += delta.content ?? '';
    for (const piece of delta.tool_calls ?? []) {
      calls[piece.index] ??= { type: 'function', function: { name: '', arguments: '' } };
      const call = calls[piece.index] ?? expect.fail('no call');
      if (piece.id) call.id = piece.id;
      call.function.name += piece.function?.name ?? '';
      call.function.arguments += piece.function?.arguments ?? '';
    }
  }
  const final = events.at(-1) as FinalEvent;
  return {
    content: calls.length > 0 && content === '' ? null : content,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
    finish_reason: final.finish_reason,
    usage: final.usage,
  };
}

const TOOLS_REQUEST = brainRequest({
  api_provider: 'reference',
  model_name: 'test-tools',
  request_params: {
    messages: [{ role: 'user', content: 'Weather?' }],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string', minLength: 12 }, unit: { enum: ['c', 'f'] } },
            required: ['city', 'unit'],
          },
        },
      },
    ],
  },
});

describe('referenceBrainEvents: an approved answer', () => {
  it('is decision first, then deltas, then final last — every event inside the stream contract', async () => {
    const events = await eventsOf(brainRequest());

    expect(events.map((event) => brainStreamEventSchema.safeParse(event).success)).not.toContain(false);
    expect(events[0]?.type).toBe('decision');
    expect(events.at(-1)?.type).toBe('final');
    expect(events.slice(1, -1).every((event) => event.type === 'delta')).toBe(true);
    expect(deltasOf(events).length).toBeGreaterThan(1);
  });

  it('joins its deltas into exactly the plain answer’s content, with the same decision and payment', async () => {
    const request = brainRequest({ request_id: 'req-stream-1' });
    const plain = await plainAnswer(request);

    const events = await eventsOf(request);

    const joined = deltasOf(events)
      .map((delta) => delta.content ?? '')
      .join('');
    expect(joined).toBe((plain.response as { content: string }).content);
    expect(events[0]).toEqual({ type: 'decision', decision: plain.decision });
    expect(events.at(-1)).toEqual({
      type: 'final',
      success: true,
      payment: plain.payment,
      usage: expect.objectContaining(chatUsageOf(plain.response)),
      finish_reason: 'stop',
      message: plain.message,
      // The whole response rides along: a plain Invoke reading these lines answers exactly it.
      response: plain.response,
    });
  });

  it('cuts the content into the configured number of deltas', async () => {
    expect(deltasOf(await eventsOf(brainRequest(), { paceMs: 0, deltas: 3 }))).toHaveLength(3);
    expect(deltasOf(await eventsOf(brainRequest()))).toHaveLength(5);
  });

  it('streams a tool call as OpenAI does: a first delta with id, type and name, then argument pieces', async () => {
    const plain = await plainAnswer(TOOLS_REQUEST);
    const [call] = (plain.response as { tool_calls: Array<{ id: string; function: { arguments: string } }> })
      .tool_calls;

    const deltas = deltasOf(await eventsOf(TOOLS_REQUEST));

    expect(deltas[0]).toEqual({
      type: 'delta',
      tool_calls: [
        { index: 0, id: call?.id, type: 'function', function: { name: 'get_weather', arguments: '' } },
      ],
    });
    expect(deltas.length).toBeGreaterThan(2);
    for (const delta of deltas.slice(1)) {
      expect(delta).toEqual({
        type: 'delta',
        tool_calls: [{ index: 0, function: { arguments: expect.any(String) } }],
      });
    }
    expect(deltas.map((delta) => delta.tool_calls?.[0]?.function?.arguments ?? '').join('')).toBe(
      call?.function.arguments,
    );
  });

  it('assembles into the same chat message and usage as the plain answer, text or tool calls', async () => {
    for (const request of [brainRequest(), TOOLS_REQUEST]) {
      const plain = await plainAnswer(request);

      const assembled = assemble(await eventsOf(request));

      expect(chatChoiceOf(assembled)).toEqual(chatChoiceOf(plain.response));
      expect(chatUsageOf(assembled)).toEqual(chatUsageOf(plain.response));
    }
    expect(chatChoiceOf(assemble(await eventsOf(TOOLS_REQUEST))).finish_reason).toBe('tool_calls');
  });

  it('never cuts a character outside the BMP in two', async () => {
    const text = '😀a😀😀b😀'.repeat(3);

    for (let count = 1; count <= text.length + 1; count += 1) {
      const pieces = splitText(text, count);
      expect(pieces.join('')).toBe(text);
      expect(pieces.length).toBeLessThanOrEqual(count);
      for (const piece of pieces) {
        expect(piece.length).toBeGreaterThan(0);
        // No lone surrogate at either end.
        expect(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(piece)).toBe(false);
      }
    }
    expect(splitText('', 5)).toEqual([]);
  });

  it('paces its deltas, the first leaving before half of the whole stream’s time', async () => {
    const seen: Array<{ type: string; at: number }> = [];
    const started = performance.now();
    for await (const event of referenceBrainEvents(brainRequest(), { paceMs: 30, deltas: 5 })) {
      seen.push({ type: event.type, at: performance.now() - started });
    }

    const total = seen.at(-1)?.at ?? 0;
    const firstDelta = seen.find((event) => event.type === 'delta')?.at ?? Number.POSITIVE_INFINITY;
    expect(total).toBeGreaterThanOrEqual(4 * 30 - 5);
    expect(firstDelta).toBeLessThan(total / 2);
  });
});

describe('referenceBrainEvents: what is not an approved answer', () => {
  it('streams a rejection as its decision, then its final, no deltas', async () => {
    const request = brainRequest({ api_provider: 'reference', model_name: 'test-reject' });
    const plain = await plainAnswer(request);

    const events = await eventsOf(request);

    expect(events).toEqual([
      { type: 'decision', decision: plain.decision },
      { type: 'final', success: false, payment: null, message: plain.message, response: plain.response },
    ]);
  });

  it('test-stream-error yields its decision and first delta, then throws', async () => {
    const events: BrainStreamEvent[] = [];
    const streaming = (async () => {
      for await (const event of referenceBrainEvents(
        brainRequest({ api_provider: 'reference', model_name: 'test-stream-error' }),
        FAST,
      )) {
        events.push(event);
      }
    })();

    await expect(streaming).rejects.toBeInstanceOf(ReferenceBrainStreamError);
    expect(events.map((event) => event.type)).toEqual(['decision', 'delta']);
    expect(events[0]).toMatchObject({ decision: { outcome: 'approved' } });
  });

  it('answered plainly, test-stream-error approves', async () => {
    const plain = await plainAnswer(
      brainRequest({ api_provider: 'reference', model_name: 'test-stream-error' }),
    );

    expect(plain.decision.outcome).toBe('approved');
  });

  it.each([
    [
      'test-error’s brain-side failure',
      brainRequest({ api_provider: 'reference', model_name: 'test-error' }),
    ],
    ['a request outside the contract', { request_id: 'x' }],
  ])(
    'throws %s as UnstreamableAnswer before any event, carrying the plain payload',
    async (_case, request) => {
      const events: BrainStreamEvent[] = [];

      const thrown = await (async () => {
        for await (const event of referenceBrainEvents(request, FAST)) events.push(event);
      })().catch((error: unknown) => error);

      expect(events).toEqual([]);
      expect(thrown).toBeInstanceOf(UnstreamableAnswer);
      expect((thrown as UnstreamableAnswer).payload).toEqual(await referenceBrain(request));
      expect(brainFailureAnswerSchema.safeParse((thrown as UnstreamableAnswer).payload).success).toBe(true);
    },
  );

  it('throws test-malformed’s answer outside the contract as UnstreamableAnswer too, unchanged', async () => {
    const request = brainRequest({ api_provider: 'reference', model_name: 'test-malformed' });

    const thrown = await eventsOf(request).catch((error: unknown) => error);

    expect((thrown as UnstreamableAnswer).payload).toEqual(await referenceBrain(request));
  });

  it('throws test-throttle’s TooManyRequestsException as the plain brain does', async () => {
    const request = brainRequest({ api_provider: 'reference', model_name: 'test-throttle' });

    await expect(eventsOf(request)).rejects.toBeInstanceOf(TooManyRequestsException);
  });
});
