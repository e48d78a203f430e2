/** The zod → API Gateway model conversion (infra/request-model.ts). */
import { JsonSchemaType, JsonSchemaVersion } from 'aws-cdk-lib/aws-apigateway';
import { describe, expect, it } from 'vitest';
import { requestBodyJsonSchema } from '../../infra/openapi.js';
import { toApiGatewaySchema } from '../../infra/request-model.js';

describe('toApiGatewaySchema', () => {
  it('keeps the generated constraints of the request body', () => {
    const schema = toApiGatewaySchema(requestBodyJsonSchema('draft-4'));
    expect(schema.schema).toBe(JsonSchemaVersion.DRAFT4);
    expect(schema.type).toBe(JsonSchemaType.OBJECT);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['provider', 'model', 'operation_type']);
    expect(schema.properties?.provider).toEqual({ type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });
    expect(schema.properties?.messages?.items).toMatchObject({
      type: 'object',
      required: ['role', 'content'],
      additionalProperties: false,
    });
  });

  it('flattens the recursive metadata value to "any JSON" and drops the definitions', () => {
    const schema = toApiGatewaySchema(requestBodyJsonSchema('draft-4'));
    expect(schema.properties?.metadata).toEqual({ type: 'object', additionalProperties: {} });
    expect(schema.definitions).toBeUndefined();
    expect(JSON.stringify(schema)).not.toContain('$ref');
  });

  it('refuses a keyword it does not know instead of dropping a constraint', () => {
    expect(() => toApiGatewaySchema({ type: 'string', contentEncoding: 'base64' })).toThrow(
      'unsupported JSON Schema keyword $.contentEncoding',
    );
  });

  it('refuses a reference to anything but a local definition', () => {
    expect(() =>
      toApiGatewaySchema({ type: 'object', properties: { a: { $ref: 'https://example.com/s.json' } } }),
    ).toThrow('unsupported $ref at $.properties.a');
  });

  it('refuses an unknown type', () => {
    expect(() => toApiGatewaySchema({ type: 'date' })).toThrow('unsupported JSON Schema type "date"');
  });
});
