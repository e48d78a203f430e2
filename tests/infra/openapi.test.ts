import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, requestBodyJsonSchema } from '../../infra/openapi.js';
import { ERROR_CODES, statusOf } from '../../shared/errors.js';

const OPENAPI_FILE = new URL('../../docs/openapi.json', import.meta.url);

describe('docs/openapi.json', () => {
  it('is exactly what `npm run openapi` generates from the zod schemas today', () => {
    const onDisk = readFileSync(OPENAPI_FILE, 'utf8');

    const generated = `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;

    expect(JSON.parse(onDisk)).toEqual(JSON.parse(generated));
    expect(onDisk).toBe(generated);
  });

  it('documents POST /api/v1/requests with every error status of the envelope', () => {
    const document = buildOpenApiDocument() as {
      paths: Record<string, { post: { responses: Record<string, unknown> } }>;
    };

    const responses = document.paths['/api/v1/requests']?.post.responses ?? {};

    const statuses = new Set(ERROR_CODES.map((code) => String(statusOf(code))));
    expect(Object.keys(responses).sort()).toEqual(['200', ...statuses].sort());
  });

  it('documents the GitHub secret-scanning endpoint: no API key, the two signature headers, its answer and statuses', () => {
    const document = buildOpenApiDocument() as {
      paths: Record<string, { post: Record<string, unknown> & { responses: Record<string, unknown> } }>;
    };

    const operation = document.paths['/api/v1/secret-scanning/github']?.post;

    expect(operation).toMatchObject({
      operationId: 'reportLeakedKeys',
      security: [],
      parameters: [
        { name: 'Github-Public-Key-Identifier', in: 'header', required: true },
        { name: 'Github-Public-Key-Signature', in: 'header', required: true },
      ],
      requestBody: {
        content: { 'application/json': { schema: requestBodyJsonSchema('openapi-3.0', 'secret-scanning') } },
      },
      responses: {
        '200': {
          content: {
            'application/json': {
              schema: {
                type: 'array',
                items: { required: ['token_hash', 'token_type', 'label'] },
              },
            },
          },
        },
      },
    });
    expect(Object.keys(operation?.responses ?? {}).sort()).toEqual(
      ['200', '400', '401', '405', '413', '415', '500'].sort(),
    );
  });

  it('describes a strict request body with the required fields', () => {
    const schema = requestBodyJsonSchema('draft-4') as {
      required?: string[];
      additionalProperties?: boolean;
      properties?: Record<string, unknown>;
    };

    expect(schema.required).toEqual(['provider', 'model', 'operation_type']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties ?? {})).toContain('metadata');
  });
});
