import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Request } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { errorAnswers } from '../../../../functions/requests/middleware.js';
import { HttpError } from '../../../../shared/errors.js';

function recordingMetrics() {
  const recorded: { dimension: Record<string, string>; name: string }[] = [];
  const metrics = {
    singleMetric: () => {
      const dimension: Record<string, string> = {};
      return {
        addDimension: (name: string, value: string) => {
          dimension[name] = value;
        },
        addMetric: (name: string) => {
          recorded.push({ dimension: { ...dimension }, name });
        },
      };
    },
  } as unknown as Pick<Metrics, 'singleMetric'>;
  return { metrics, recorded };
}

function requestFailingWith(error: unknown): Request<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    event: { requestContext: { requestId: 'req-1' } } as APIGatewayProxyEvent,
    context: {} as Context,
    response: null,
    error: error as Error,
    internal: {},
  } as Request<APIGatewayProxyEvent, APIGatewayProxyResult>;
}

const silent = { error: () => {} };

describe('errorAnswers', () => {
  it.each([
    [new HttpError('brain_timeout'), 'brain_timeout', 504],
    [
      new HttpError('invalid_request', undefined, [{ path: 'model', message: 'bad' }]),
      'invalid_request',
      400,
    ],
    [
      Object.assign(new Error('x'), { cause: { package: '@middy/http-json-body-parser' } }),
      'invalid_json',
      400,
    ],
    [new TypeError('boom'), 'internal_error', 500],
  ])('answers %s in the envelope and counts it as RequestError by code', async (error, code, status) => {
    const { metrics, recorded } = recordingMetrics();
    const request = requestFailingWith(error);

    await errorAnswers(silent, metrics).onError?.(request);

    expect(request.response?.statusCode).toBe(status);
    expect(JSON.parse(request.response?.body ?? '{}').error.code).toBe(code);
    expect(recorded).toEqual([{ dimension: { code }, name: 'RequestError' }]);
  });

  it('never shows an unexpected error’s message or stack to the caller', async () => {
    const request = requestFailingWith(new Error('secret internals at /work/x.ts:1'));

    await errorAnswers(silent).onError?.(request);

    expect(request.response?.body).not.toMatch(/internals|\/work\//);
  });
});
