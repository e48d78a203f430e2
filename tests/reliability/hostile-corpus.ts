/**
 * A named corpus of hostile requests for POST /api/v1/requests, each with the statuses a
 * correct API may answer. Headers are built from the caller's key at run time, so case
 * names (which appear in test output) never contain a key.
 */

import { generateKey } from '../../shared/domain/keys/format.js';
import { CHAT_BODY } from '../e2e/support/https.js';
import type { HeaderValues } from '../support/api-client.js';

export interface Keys {
  /** The caller's valid, active key. */
  valid: string;
  /** Another well-formed key nobody issued. */
  other: string;
}

export interface HostileCase {
  name: string;
  method?: string;
  /** Default: /api/v1/requests. */
  path?: string | ((keys: Keys) => string);
  /** Default: Content-Type JSON and the valid key as Bearer. */
  headers?: (keys: Keys) => HeaderValues;
  /** Default: a valid chat body. */
  body?: string | Buffer;
  /** Statuses a correct API may answer; 500 is never among them. */
  expect: readonly number[];
  /** The error code, when one status is expected and its code matters. */
  code?: string;
  /** Paths `details` must name. */
  detailPaths?: readonly string[];
}

const MB = 1024 * 1024;

export const validBody = JSON.stringify(CHAT_BODY);
const body = (overrides: Record<string, unknown>) => JSON.stringify({ ...CHAT_BODY, ...overrides });
const message = (content: string) => ({ messages: [{ role: 'user', content }] });
/** A chat body with one more field written as raw JSON text (escapes and numbers JSON.stringify would not write). */
const rawField = (name: string, rawJsonValue: string) =>
  `${validBody.slice(0, -1)},${JSON.stringify(name)}:${rawJsonValue}}`;
const withModel = (rawJsonString: string) => validBody.replace('"gpt-4o-mini"', rawJsonString);
const withContent = (rawJsonString: string) =>
  validBody.replace('"Hello from the end-to-end tests"', rawJsonString);

const json = (extra: Record<string, string | string[]> = {}): HeaderValues => ({
  'Content-Type': 'application/json',
  ...extra,
});
const bearer = (value: string) => () => json({ Authorization: value });

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

export const BODY_CASES: readonly HostileCase[] = [
  // Size and shape
  { name: 'JSON arrays nested 100k deep', body: nested(100_000, '[', ']'), expect: [400] },
  { name: 'JSON objects nested 100k deep', body: nested(100_000, '{"a":', '}'), expect: [400] },
  {
    name: 'objects nested 100k deep inside metadata',
    body: rawField('metadata', nested(100_000, '{"a":', '}')),
    expect: [400],
  },
  {
    name: 'a 900 KB prompt (over its 100,000 characters)',
    body: body({ prompt: 'p'.repeat(900 * 1024) }),
    expect: [400],
    detailPaths: ['prompt'],
  },
  { name: 'a 900 KB message content', body: body(message('c'.repeat(900 * 1024))), expect: [200] },
  {
    name: 'a body just over 1 MB',
    body: body(message('c'.repeat(MB))),
    expect: [413],
    code: 'payload_too_large',
  },
  {
    name: 'a body over 10 MB (refused by the gateway)',
    body: body(message('c'.repeat(10 * MB + 1))),
    expect: [413],
    code: 'payload_too_large',
  },
  {
    name: '1 MB of whitespace around a valid body',
    body: `${' '.repeat(MB - validBody.length - 10)}${validBody}\n`,
    expect: [200],
  },
  {
    name: '10k messages',
    body: body({ messages: Array.from({ length: 10_000 }, () => ({ role: 'user', content: 'x' })) }),
    expect: [400],
    detailPaths: ['messages'],
  },
  {
    name: '10k messages, every one invalid',
    body: body({ messages: Array.from({ length: 10_000 }, () => ({ role: 'robot', content: 1 })) }),
    expect: [400],
  },
  { name: 'an empty body', body: '', expect: [400], code: 'invalid_json' },
  { name: 'null', body: 'null', expect: [400] },
  { name: '[]', body: '[]', expect: [400] },
  { name: 'a JSON string', body: '"string"', expect: [400] },
  { name: '1e309 (Infinity once parsed)', body: '1e309', expect: [400] },
  { name: '-0', body: '-0', expect: [400] },
  { name: 'true', body: 'true', expect: [400] },
  { name: 'a truncated body', body: validBody.slice(0, -1), expect: [400], code: 'invalid_json' },
  { name: 'two JSON documents', body: `${validBody}${validBody}`, expect: [400], code: 'invalid_json' },
  { name: 'a JSON comment', body: `/* hi */${validBody}`, expect: [400], code: 'invalid_json' },
  { name: 'single-quoted JSON', body: validBody.replaceAll('"', "'"), expect: [400], code: 'invalid_json' },
  {
    name: 'duplicate JSON keys (the last one wins and is invalid)',
    body: `{"provider":"openai",${validBody.slice(1).replace('"provider":"openai"', '"provider":"Not A Slug"')}`,
    expect: [400],
  },
  // Numbers
  {
    name: 'temperature as a string',
    body: body({ temperature: '0.5' }),
    expect: [400],
    detailPaths: ['temperature'],
  },
  {
    name: 'max_tokens as a string',
    body: body({ max_tokens: '64' }),
    expect: [400],
    detailPaths: ['max_tokens'],
  },
  { name: 'top_p as a string', body: body({ top_p: '1' }), expect: [400], detailPaths: ['top_p'] },
  { name: 'max_tokens 1e309', body: rawField('max_tokens', '1e309'), expect: [400] },
  { name: 'max_tokens 2^53 + 1', body: rawField('max_tokens', '9007199254740993'), expect: [400] },
  { name: 'max_tokens with 400 digits', body: rawField('max_tokens', `1${'0'.repeat(400)}`), expect: [400] },
  { name: 'max_tokens -0', body: rawField('max_tokens', '-0'), expect: [400] },
  { name: 'max_tokens 1.5', body: body({ max_tokens: 1.5 }), expect: [400] },
  { name: 'temperature -0', body: rawField('temperature', '-0'), expect: [200] },
  { name: 'temperature 1e-400 (0 once parsed)', body: rawField('temperature', '1e-400'), expect: [200] },
  { name: 'temperature "NaN"', body: body({ temperature: 'NaN' }), expect: [400] },
  // Prototype pollution
  { name: '__proto__ at the top level', body: rawField('__proto__', '{"polluted":true}'), expect: [400] },
  { name: 'constructor at the top level', body: rawField('constructor', '{"prototype":{}}'), expect: [400] },
  { name: 'prototype at the top level', body: rawField('prototype', '{}'), expect: [400] },
  {
    name: '__proto__ inside metadata',
    body: rawField('metadata', '{"__proto__":{"isAdmin":true}}'),
    expect: [400],
    detailPaths: ['metadata.__proto__'],
  },
  {
    name: 'constructor nested inside metadata',
    body: rawField('metadata', '{"a":{"constructor":{"prototype":{"x":1}}}}'),
    expect: [400],
  },
  {
    name: 'prototype in an object inside a metadata array',
    body: rawField('metadata', '{"list":[{"prototype":1}]}'),
    expect: [400],
  },
  {
    name: '__proto__ inside a message',
    body: validBody.replace('"role":"user"', '"role":"user","__proto__":{"role":"system"}'),
    expect: [400],
  },
  {
    name: 'constructor inside a message',
    body: validBody.replace('"role":"user"', '"role":"user","constructor":"x"'),
    expect: [400],
  },
  // Unicode
  { name: 'a lone high surrogate in a message', body: withContent('"\\ud800"'), expect: [200, 400] },
  { name: 'a lone low surrogate in the model', body: withModel('"gpt\\udfff"'), expect: [200, 400] },
  { name: 'a lone surrogate in the provider', body: rawField('provider', '"open\\ud800ai"'), expect: [400] },
  { name: 'a byte order mark before the body', body: `\ufeff${validBody}`, expect: [400] },
  { name: 'NUL (escaped) in a message', body: withContent('"a\\u0000b"'), expect: [200, 400] },
  {
    name: 'NUL (escaped) in the model',
    body: withModel('"gpt\\u0000"'),
    expect: [400],
    detailPaths: ['model'],
  },
  { name: 'a raw NUL byte inside a JSON string', body: withContent('"a\u0000b"'), expect: [400] },
  {
    name: 'right-to-left override U+202E in the model',
    body: body({ model: 'gpt-4o\u202emini' }),
    expect: [400],
    detailPaths: ['model'],
  },
  { name: 'zero-width joiner in the model', body: body({ model: 'gpt\u200d4o' }), expect: [400] },
  {
    name: 'emoji in the model and a message',
    body: body({ model: 'gpt-😀', ...message('🔑🚀👩‍💻') }),
    expect: [200],
  },
  { name: 'combining characters in a message', body: body(message('e\u0301'.repeat(5000))), expect: [200] },
  { name: 'an emoji provider', body: body({ provider: '😀' }), expect: [400], detailPaths: ['provider'] },
  {
    name: 'overlong UTF-8 for "{"',
    body: Buffer.concat([Buffer.from([0xc1, 0xbb]), Buffer.from(validBody.slice(1))]),
    expect: [400],
    code: 'invalid_json',
  },
  {
    name: 'overlong UTF-8 NUL (C0 80) inside a message',
    body: Buffer.from(withContent('"a\u0000b"').replace('\u0000', '\u00c0\u0080'), 'latin1'),
    expect: [200, 400],
  },
  {
    name: 'invalid UTF-8 bytes in the model',
    body: Buffer.from(withModel('"gpt\u00ff\u00fe"'), 'latin1'),
    expect: [200, 400],
  },
  // Strictness
  { name: 'an unknown field', body: body({ temprature: 1 }), expect: [400], detailPaths: ['temprature'] },
  {
    name: 'null for an optional field',
    body: body({ agent_id: null }),
    expect: [400],
    detailPaths: ['agent_id'],
  },
  { name: 'messages as an object', body: body({ messages: { role: 'user', content: 'x' } }), expect: [400] },
  { name: 'a message that looks like nested JSON', body: body(message(nested(50, '[', ']'))), expect: [200] },
  {
    name: 'content as a deeply nested array value',
    body: validBody.replace('"Hello from the end-to-end tests"', nested(500, '[', ']')),
    expect: [400],
  },
  { name: 'metadata over 8 KB', body: body({ metadata: { blob: 'm'.repeat(9000) } }), expect: [400] },
  {
    name: 'metadata 5 levels deep',
    body: body({ metadata: { a: { b: { c: { d: { e: 1 } } } } } }),
    expect: [400],
  },
  { name: 'operation_type with a trailing space', body: body({ operation_type: 'chat ' }), expect: [400] },
  { name: 'a 129-character model', body: body({ model: 'm'.repeat(129) }), expect: [400] },
];

export const HEADER_CASES: readonly HostileCase[] = [
  // Keys in odd places and shapes
  {
    name: 'Bearer with two spaces',
    headers: ({ valid }) => json({ Authorization: `Bearer  ${valid}` }),
    expect: [200],
  },
  {
    name: 'Bearer and a tab',
    headers: ({ valid }) => json({ Authorization: `Bearer\t${valid}` }),
    expect: [200, 401],
  },
  {
    name: 'lower-case bearer',
    headers: ({ valid }) => json({ Authorization: `bearer ${valid}` }),
    expect: [200],
  },
  {
    name: 'upper-case BEARER',
    headers: ({ valid }) => json({ Authorization: `BEARER ${valid}` }),
    expect: [200],
  },
  {
    name: 'whitespace around the key in Authorization',
    headers: ({ valid }) => json({ Authorization: `  Bearer ${valid} \t ` }),
    expect: [200],
  },
  {
    name: 'whitespace around the key in X-API-Key',
    headers: ({ valid }) => json({ 'X-API-Key': ` \t${valid}  ` }),
    expect: [200],
  },
  {
    name: 'a space inside the key',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid.slice(0, 20)} ${valid.slice(20)}` }),
    expect: [401],
  },
  {
    name: 'the sk- prefix of other issuers',
    headers: ({ valid }) => json({ Authorization: `Bearer sk-${valid.slice(8)}` }),
    expect: [401],
  },
  {
    name: 'the prefix in upper case',
    headers: ({ valid }) => json({ Authorization: `Bearer KG_TEST_${valid.slice(8)}` }),
    expect: [401],
  },
  {
    name: 'a test key relabelled live (the checksum covers the prefix)',
    headers: ({ valid }) => json({ Authorization: `Bearer kg_live_${valid.slice(8)}` }),
    expect: [401],
  },
  {
    name: 'a well-formed live key on a test stage',
    headers: () => json({ Authorization: `Bearer ${generateKey('live').key}` }),
    expect: [401],
  },
  {
    name: 'no prefix at all',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid.slice(8)}` }),
    expect: [401],
  },
  {
    name: 'the key in lower case',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid.toLowerCase()}` }),
    expect: [401],
  },
  {
    name: 'the key plus one character',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid}0` }),
    expect: [401],
  },
  {
    name: 'the key minus one character',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid.slice(0, -1)}` }),
    expect: [401],
  },
  { name: 'the key without a scheme', headers: ({ valid }) => json({ Authorization: valid }), expect: [401] },
  {
    name: 'the key as Basic credentials',
    headers: ({ valid }) => json({ Authorization: `Basic ${Buffer.from(`${valid}:`).toString('base64')}` }),
    expect: [401],
  },
  {
    name: 'Token instead of Bearer',
    headers: ({ valid }) => json({ Authorization: `Token ${valid}` }),
    expect: [401],
  },
  {
    name: 'Bearer and two tokens',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid} ${valid}` }),
    expect: [401],
  },
  { name: 'an empty Bearer', headers: bearer('Bearer '), expect: [401] },
  { name: 'an empty X-API-Key', headers: () => json({ 'X-API-Key': '' }), expect: [401] },
  { name: 'no key at all', headers: () => json(), expect: [401] },
  {
    name: 'a key in the query string only',
    path: ({ valid }) => `/api/v1/requests?api_key=${valid}&key=${valid}`,
    headers: () => json(),
    expect: [401],
  },
  { name: 'a 12 KB Authorization header', headers: bearer(`Bearer ${'a'.repeat(12 * 1024)}`), expect: [401] },
  {
    name: 'a 20 KB Authorization header',
    headers: bearer(`Bearer ${'a'.repeat(20 * 1024)}`),
    expect: [400, 401],
  },
  {
    name: 'Latin-1 bytes after the key',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid}\u00e9` }),
    expect: [401],
  },
  // Duplicates
  {
    name: 'two Authorization headers with different keys',
    headers: ({ valid, other }) => json({ Authorization: [`Bearer ${valid}`, `Bearer ${other}`] }),
    expect: [401],
  },
  {
    name: 'two Authorization headers with the same key',
    headers: ({ valid }) => json({ Authorization: [`Bearer ${valid}`, `Bearer ${valid}`] }),
    expect: [200],
  },
  {
    name: 'Authorization and X-API-Key with different keys',
    headers: ({ valid, other }) => json({ Authorization: `Bearer ${valid}`, 'X-API-Key': other }),
    expect: [401],
  },
  {
    name: 'two X-API-Key headers, one empty',
    headers: ({ valid }) => json({ 'X-API-Key': [valid, ''] }),
    expect: [401],
  },
  {
    name: 'two Content-Type headers, JSON last',
    headers: ({ valid }) => ({
      'Content-Type': ['text/plain', 'application/json'],
      Authorization: `Bearer ${valid}`,
    }),
    expect: [200, 415],
  },
  {
    name: 'two Content-Type headers, JSON first',
    headers: ({ valid }) => ({
      'Content-Type': ['application/json', 'text/plain'],
      Authorization: `Bearer ${valid}`,
    }),
    expect: [200, 415],
  },
  // Media types, methods, paths
  { name: 'no Content-Type', headers: ({ valid }) => ({ Authorization: `Bearer ${valid}` }), expect: [415] },
  {
    name: 'Content-Type text/plain',
    headers: ({ valid }) => ({ 'Content-Type': 'text/plain', Authorization: `Bearer ${valid}` }),
    expect: [415],
  },
  {
    name: 'Content-Type application/jsonp',
    headers: ({ valid }) => ({ 'Content-Type': 'application/jsonp', Authorization: `Bearer ${valid}` }),
    expect: [415],
  },
  {
    name: 'Content-Type APPLICATION/JSON',
    headers: ({ valid }) => ({ 'Content-Type': 'APPLICATION/JSON', Authorization: `Bearer ${valid}` }),
    expect: [200],
  },
  {
    name: 'Content-Type with a hostile charset',
    headers: ({ valid }) => ({
      'Content-Type': 'application/json; charset="utf-7"; x=\u00ff',
      Authorization: `Bearer ${valid}`,
    }),
    expect: [200, 415],
  },
  { name: 'GET with a key', method: 'GET', body: '', expect: [405] },
  { name: 'PUT with a key', method: 'PUT', expect: [405] },
  { name: 'DELETE with a key', method: 'DELETE', expect: [405] },
  { name: 'PATCH with a key', method: 'PATCH', expect: [405] },
  { name: 'OPTIONS with a key', method: 'OPTIONS', expect: [405] },
  {
    name: 'a method override header',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid}`, 'X-HTTP-Method-Override': 'DELETE' }),
    expect: [200],
  },
  { name: 'a trailing slash', path: '/api/v1/requests/', expect: [200] },
  { name: 'an upper-case path', path: '/api/v1/REQUESTS', expect: [404] },
  { name: 'an encoded NUL in the path', path: '/api/v1/requests%00', expect: [404] },
  { name: 'a path traversal', path: '/api/v1/requests/..%2f..%2fadmin', expect: [404] },
  { name: 'the root path', path: '/', expect: [404] },
  // Other headers
  {
    name: 'spoofed X-Forwarded-For and Host',
    headers: ({ valid }) =>
      json({
        Authorization: `Bearer ${valid}`,
        'X-Forwarded-For': '10.0.0.1, <script>',
        Host: 'evil.example',
      }),
    expect: [200],
  },
  {
    name: '200 extra headers',
    headers: ({ valid }) =>
      json({
        Authorization: `Bearer ${valid}`,
        ...Object.fromEntries(
          Array.from({ length: 200 }, (_, index) => [`X-Extra-${index}`, 'v'.repeat(20)]),
        ),
      }),
    expect: [200],
  },
  {
    name: 'an Idempotency-Key of 256 characters',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid}`, 'Idempotency-Key': 'k'.repeat(256) }),
    expect: [400],
    detailPaths: ['Idempotency-Key'],
  },
  {
    name: 'an empty Idempotency-Key',
    headers: ({ valid }) => json({ Authorization: `Bearer ${valid}`, 'Idempotency-Key': '' }),
    expect: [400],
  },
];
