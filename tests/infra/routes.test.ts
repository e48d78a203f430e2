import { describe, expect, it } from 'vitest';
import {
  GATEWAY_RESPONSES,
  gatewayResponse,
  gatewayResponseHeaders,
  gatewayResponseTemplate,
} from '../../infra/gateway-responses.js';
import { AUTHORIZER, ROUTES } from '../../infra/routes.js';
import { AUTH_MESSAGES, errorEnvelope, openAiTypeOf, statusOf } from '../../shared/errors.js';

/** What API Gateway substitutes into a gateway response template (a Deny's context carries the whole body). */
function render(template: string, message: string): string {
  const denyBody = JSON.stringify(errorEnvelope('unauthorized', 'req-9', message));
  return template.replaceAll('$context.authorizer.body', denyBody).replaceAll('$context.requestId', 'req-9');
}

describe('the route table and gateway responses', () => {
  it('serves keygate’s, OpenAI’s and Anthropic’s routes with the requests function (streamed) behind the REQUEST authorizer without a result cache, and GitHub secret-scanning reports without it', () => {
    const streamed = { handler: 'requests', authorized: true, responseTransfer: 'STREAM' };
    expect(ROUTES).toEqual([
      { path: '/api/v1/requests', body: 'requests', methods: ['POST'], ...streamed },
      { path: '/v1/chat/completions', body: 'chat-completions', methods: ['POST'], ...streamed },
      { path: '/v1/models', methods: ['GET'], ...streamed },
      { path: '/v1/messages', body: 'anthropic-messages', methods: ['POST'], ...streamed },
      { path: '/v1/messages/count_tokens', body: 'anthropic-count-tokens', methods: ['POST'], ...streamed },
      { path: '/v1/responses', body: 'responses', methods: ['POST'], ...streamed },
      {
        path: '/api/v1/secret-scanning/github',
        body: 'secret-scanning',
        methods: ['POST'],
        handler: 'secret-scanning',
        authorized: false,
      },
    ]);
    expect(AUTHORIZER).toMatchObject({ type: 'REQUEST', identitySources: [], resultsCacheTtlSeconds: 0 });
  });

  it('answer a Deny and a missing token as SPEC §3 says', () => {
    expect(gatewayResponse('ACCESS_DENIED')).toMatchObject({ statusCode: 401, code: 'unauthorized' });
    expect(gatewayResponse('UNAUTHORIZED')).toMatchObject({ statusCode: 401, code: 'unauthorized' });
    expect(gatewayResponse('MISSING_AUTHENTICATION_TOKEN')).toMatchObject({
      statusCode: 404,
      code: 'not_found',
    });
    expect(gatewayResponse('THROTTLED')).toMatchObject({ statusCode: 429, code: 'rate_limited' });
  });

  it.each(GATEWAY_RESPONSES.map((definition) => [definition.type, definition] as const))(
    'renders %s as the JSON envelope with the standard headers',
    (_type, definition) => {
      for (const message of Object.values(AUTH_MESSAGES)) {
        const body = JSON.parse(render(gatewayResponseTemplate(definition), message));

        expect(body).toEqual({
          success: false,
          error: { code: definition.code, type: openAiTypeOf(definition.code), message: expect.any(String) },
          request_id: 'req-9',
        });
        if (definition.fromAuthorizer) expect(body.error.message).toBe(message);
      }
      expect(definition.statusCode).toBe(statusOf(definition.code));
      const headers = gatewayResponseHeaders(definition);
      expect(headers).toMatchObject({
        'Content-Type': "'application/json'",
        'X-Request-Id': 'context.requestId',
        'Strict-Transport-Security': "'max-age=31536000; includeSubDomains'",
        'Cache-Control': "'no-store'",
      });
      expect('WWW-Authenticate' in headers).toBe(definition.code === 'unauthorized');
    },
  );

  it('say x-should-retry (SPEC §3b): the throttle true, a Deny as its context says, every other false', () => {
    const shouldRetryOf = (type: Parameters<typeof gatewayResponse>[0]) =>
      gatewayResponseHeaders(gatewayResponse(type))['x-should-retry'];
    expect(shouldRetryOf('THROTTLED')).toBe("'true'");
    expect(shouldRetryOf('ACCESS_DENIED')).toBe('context.authorizer.shouldRetry');
    for (const definition of GATEWAY_RESPONSES) {
      if (definition.type === 'THROTTLED' || definition.type === 'ACCESS_DENIED') continue;
      expect(shouldRetryOf(definition.type), definition.type).toBe("'false'");
    }
  });
});
