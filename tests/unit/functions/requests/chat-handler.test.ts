/**
 * The requests function on POST /v1/chat/completions (SPEC §3b): the same guards, scopes,
 * idempotency and brain as /api/v1/requests, an OpenAI body in and a `chat.completion` out.
 * Lambda answers with the real reference brain; DynamoDB (idempotency) is mocked.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { referenceBrain } from '../../../../functions/reference-brain/brain.js';
import type { BrainRequest } from '../../../../shared/domain/brain/contract.js';
import {
  CHAT_COMPLETIONS_PATH,
  chatCompletionSchema,
} from '../../../../shared/domain/requests/chat-completions.js';
import { DEFAULT_CALLER, type ProxyEventOptions, proxyEvent } from '../../../support/events.js';
import { detailPaths, type ParsedAnswer, parseAnswer } from '../../../support/http.js';
import { lambdaContext } from '../../../support/lambda.js';
import { requestsHandlerUnderTest } from '../../../support/requests-handler.js';

const { lambdaMock, dynamoMock, handler } = requestsHandlerUnderTest();

const VALID = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] };
const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** proxyEvent builds /api/v1/requests events: the same event on the OpenAI-compatible resource. */
function chatEvent(options: ProxyEventOptions = {}): APIGatewayProxyEvent {
  const event = proxyEvent(options);
  return {
    ...event,
    resource: CHAT_COMPLETIONS_PATH,
    path: CHAT_COMPLETIONS_PATH,
    requestContext: {
      ...event.requestContext,
      path: `/dev${CHAT_COMPLETIONS_PATH}`,
      resourcePath: CHAT_COMPLETIONS_PATH,
    },
  };
}

interface Sent {
  result: APIGatewayProxyResult;
  requestId: string;
}

async function post(options: ProxyEventOptions & { json?: unknown } = {}): Promise<Sent> {
  const { json, ...rest } = options;
  const event = chatEvent({ body: JSON.stringify(json === undefined ? VALID : json), ...rest });
  return { result: await handler(event, lambdaContext()), requestId: event.requestContext.requestId };
}

/** An error answer in the envelope (checked by parseAnswer). */
async function send(options: ProxyEventOptions & { json?: unknown } = {}): Promise<ParsedAnswer> {
  const { result, requestId } = await post(options);
  return parseAnswer(result, requestId);
}

/** A 200 chat.completion: the headers every answer carries, and the body in its schema. */
function completionOf({ result, requestId }: Sent, expectedRequestId = requestId) {
  expect(result.statusCode).toBe(200);
  expect(result.headers).toMatchObject({
    'Content-Type': 'application/json',
    'X-Request-Id': expectedRequestId,
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  const parsed = chatCompletionSchema.safeParse(JSON.parse(result.body));
  expect(parsed.error?.issues).toBeUndefined();
  if (!parsed.success) throw new Error('unreachable');
  return parsed.data;
}

function brainRequests(): BrainRequest[] {
  return lambdaMock.commandCalls(InvokeCommand).map((call) => {
    const payload = call.args[0].input.Payload;
    const text = typeof payload === 'string' ? payload : new TextDecoder().decode(payload as Uint8Array);
    return JSON.parse(text) as BrainRequest;
  });
}

describe('an approved request', () => {
  it('answers 200 chat.completion with the security headers and X-Request-Id', async () => {
    const sent = await post();

    const completion = completionOf(sent);

    const [brainRequest, ...more] = brainRequests();
    expect(more).toEqual([]);
    const expected = (await referenceBrain(brainRequest)) as {
      decision: unknown;
      payment: unknown;
      response: { content: string; usage: { input_tokens: number; output_tokens: number } };
    };
    expect(completion).toEqual({
      id: `chatcmpl-${sent.requestId}`,
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: expected.response.content },
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: expected.response.usage.input_tokens,
        completion_tokens: expected.response.usage.output_tokens,
        total_tokens: expected.response.usage.input_tokens + expected.response.usage.output_tokens,
      },
      keygate: { request_id: sent.requestId, decision: expected.decision, payment: expected.payment },
    });
    expect(Math.abs(completion.created - Date.now() / 1000)).toBeLessThan(60);
  });

  it('sends the brain the same request as /api/v1/requests would, operation_type chat', async () => {
    const sent = await post({
      json: {
        model: 'anthropic/claude-haiku-4',
        messages: [
          { role: 'developer', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Say' },
              { type: 'text', text: 'hello.' },
            ],
            name: 'al',
          },
        ],
        max_completion_tokens: 64,
        temperature: 0.5,
        user: 'agent-body',
        metadata: { team: 'a' },
      },
    });

    const completion = completionOf(sent);

    expect(completion.model).toBe('anthropic/claude-haiku-4');
    expect(brainRequests()).toEqual([
      {
        request_id: sent.requestId,
        user_id: DEFAULT_CALLER.userId,
        key_id: DEFAULT_CALLER.keyId,
        project_id: DEFAULT_CALLER.projectId,
        agent_id: 'agent-body',
        api_provider: 'anthropic',
        model_name: 'claude-haiku-4',
        operation_type: 'chat',
        request_params: {
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Say\nhello.', name: 'al' },
          ],
          temperature: 0.5,
          max_tokens: 64,
        },
        metadata: { team: 'a' },
        request_source: 'api',
      },
    ]);
  });

  it('passes Keygate-Project-Id and Keygate-Agent-Id on to the brain, the agent header over user', async () => {
    const sent = await post({
      headers: { ...JSON_HEADERS, 'keygate-project-id': 'proj-header', 'Keygate-Agent-Id': 'agent-header' },
      json: { ...VALID, user: 'agent-body' },
    });

    completionOf(sent);
    expect(brainRequests()[0]).toMatchObject({ project_id: 'proj-header', agent_id: 'agent-header' });
  });
});

describe('refusals on the chat route', () => {
  it('answers 403 forbidden with the brain’s message for a decision other than approved', async () => {
    const answer = await send({ json: { ...VALID, model: 'reference/test-reject' } });

    expect(answer.status).toBe(403);
    expect(answer.error).toEqual({
      code: 'forbidden',
      type: 'permission_error',
      message: 'Rejected: test model test-reject always rejects',
    });
    expect(brainRequests()).toHaveLength(1);
  });

  it('answers 400 naming an unsupported field and an unknown one', async () => {
    const answer = await send({ json: { ...VALID, logprobs: true, temprature: 1 } });

    expect(answer.status).toBe(400);
    expect(answer.error?.details).toEqual([
      { path: 'logprobs', message: expect.stringMatching(/not supported|keygate/) },
      { path: 'temprature', message: 'unknown field "temprature"' },
    ]);
  });

  it('answers 400 naming a header that is too long', async () => {
    const answer = await send({ headers: { ...JSON_HEADERS, 'Keygate-Agent-Id': 'a'.repeat(129) } });

    expect(answer.status).toBe(400);
    expect(detailPaths(answer)).toEqual(['Keygate-Agent-Id']);
  });

  it.each(['GET', 'PUT', 'DELETE'])(
    'answers 405 with Allow: POST for %s after authentication',
    async (method) => {
      const answer = await send({ method });
      const anonymous = await send({ method, authorizer: null });

      expect(answer.status).toBe(405);
      expect(answer.error?.code).toBe('method_not_allowed');
      expect(answer.headers.Allow).toBe('POST');
      expect(anonymous.status).toBe(401);
    },
  );

  it('answers 415 without a JSON content type', async () => {
    const missing = await send({ headers: {} });
    const plain = await send({ headers: { 'Content-Type': 'text/plain' } });

    for (const answer of [missing, plain]) {
      expect(answer.status).toBe(415);
      expect(answer.error?.code).toBe('unsupported_media_type');
    }
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('answers 401 without an authorizer context', async () => {
    const answer = await send({ authorizer: null });

    expect(answer.status).toBe(401);
    expect(answer.headers['WWW-Authenticate']).toBe('Bearer');
  });
});

describe('the key’s grant, named as the chat route writes it', () => {
  const scoped = (scopes: object) => ({ ...DEFAULT_CALLER, scopes: JSON.stringify(scopes) });

  it.each([
    ['a model outside the key’s models', { models: ['gpt-4o'] }, 'gpt-4o-mini'],
    ['a provider outside the key’s providers', { providers: ['anthropic'] }, 'gpt-4o-mini'],
    ['a provider prefix outside the key’s providers', { providers: ['openai'] }, 'ollama/llama3.1'],
  ])('answers 403 naming model for %s', async (_case, scopes, model) => {
    const answer = await send({ authorizer: scoped(scopes), json: { ...VALID, model } });

    expect(answer.status).toBe(403);
    expect(answer.error?.code).toBe('forbidden');
    expect(new Set(detailPaths(answer))).toEqual(new Set(['model']));
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it('answers 403 naming operation_type for a key without chat', async () => {
    const answer = await send({ authorizer: scoped({ operations: ['embedding'] }) });

    expect(answer.status).toBe(403);
    expect(detailPaths(answer)).toEqual(['operation_type']);
  });

  it('answers 200 for a model inside the key’s grant', async () => {
    const sent = await post({
      authorizer: scoped({ providers: ['openai'], models: ['gpt-4o*'], operations: ['chat'] }),
    });

    completionOf(sent);
  });

  it('refuses another Keygate-Project-Id on a project-bound key with 403 naming the header', async () => {
    const bound = { ...DEFAULT_CALLER, projectBound: 'true' };

    const other = await send({
      authorizer: bound,
      headers: { ...JSON_HEADERS, 'Keygate-Project-Id': 'proj-other' },
    });
    const same = await post({
      authorizer: bound,
      headers: { ...JSON_HEADERS, 'Keygate-Project-Id': DEFAULT_CALLER.projectId },
    });

    expect(other.status).toBe(403);
    expect(other.error?.code).toBe('forbidden');
    expect(detailPaths(other)).toEqual(['Keygate-Project-Id']);
    expect(other.error?.message).toMatch(/Keygate-Project-Id/);
    completionOf(same);
    expect(brainRequests().map((request) => request.project_id)).toEqual([DEFAULT_CALLER.projectId]);
  });
});

describe('Idempotency-Key on the chat route', () => {
  const withKey = { ...JSON_HEADERS, 'Idempotency-Key': 'chat-key-1' };

  it('claims the key (PutCommand), then stores the answer (UpdateCommand)', async () => {
    dynamoMock.onAnyCommand().resolves({});

    const sent = await post({ headers: withKey });

    completionOf(sent);
    expect(dynamoMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'PutCommand',
      'UpdateCommand',
    ]);
    const [claim] = dynamoMock.commandCalls(PutCommand);
    expect(claim?.args[0].input.Item).toMatchObject({ status: 'in_progress', request_id: sent.requestId });
    const [stored] = dynamoMock.commandCalls(UpdateCommand);
    expect(stored?.args[0].input.ExpressionAttributeValues).toMatchObject({
      ':completed': 'completed',
      ':statusCode': 200,
      ':answerRequestId': sent.requestId,
    });
  });

  it('replays a stored answer as the same chat.completion without asking the brain again', async () => {
    dynamoMock.onAnyCommand().resolves({});
    const first = await post({ headers: withKey });
    const original = completionOf(first);
    const claim = dynamoMock.commandCalls(PutCommand)[0]?.args[0].input.Item;
    const values = dynamoMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues;
    dynamoMock.reset();
    lambdaMock.resetHistory();
    dynamoMock.on(PutCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: marshall({
          ...claim,
          status: 'completed',
          answer_status: values?.[':statusCode'],
          answer_request_id: values?.[':answerRequestId'],
          answer_body: values?.[':body'],
        }),
      }),
    );

    const repeat = await post({ headers: withKey });

    const replayed = completionOf(repeat, first.requestId);
    expect(repeat.result.headers?.['Idempotent-Replayed']).toBe('true');
    expect(replayed).toMatchObject({
      id: original.id,
      choices: original.choices,
      usage: original.usage,
      keygate: original.keygate,
    });
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});
