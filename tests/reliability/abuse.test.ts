/**
 * Abuse over real HTTPS through the local stack, with a valid key: a named corpus of hostile
 * bodies, headers, methods and paths, header injection over a raw TLS socket, and bounded
 * fast-check fuzzing of bodies and header maps. Whatever arrives, the answer is one of the
 * expected statuses, never a 500 (nor a 502/503/504: no brain test model is used), the 200
 * shape or the error envelope with the security headers, and shows nothing of the inside.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { generateKey } from '../../shared/domain/keys/format.js';
import { MESSAGE_ROLES, OPERATION_TYPES } from '../../shared/domain/requests/schema.js';
import type { HttpsAnswer } from '../e2e/support/https.js';
import { startTestStack } from '../e2e/support/stack.js';
import { expectApiAnswer } from '../support/answer-checks.js';
import {
  type ApiClient,
  createApiClient,
  type HeaderValues,
  type TimedAnswer,
} from '../support/api-client.js';
import { keysAdminClient } from '../support/keys-admin-client.js';
import { type RawAnswer, sendRaw } from '../support/raw-tls.js';
import { BODY_CASES, HEADER_CASES, type HostileCase, type Keys, validBody } from './hostile-corpus.js';

/** Details are capped at 100 problems plus one "N more" line. */
const MAX_DETAILS = 101;
const FUZZ_RUNS = 150;
const FUZZ_TIMEOUT_MS = 90_000;

let stack: LocalStack;
let api: ApiClient;
let keys: Keys;

beforeAll(async () => {
  // WARN and above from the functions: what hostile input makes them log goes into the run's secret scan.
  stack = await startTestStack({ functionLogLevel: 'WARN' });
  api = createApiClient(stack);
  const admin = keysAdminClient(stack.lambdaUrl);
  try {
    const issued = await admin.createUserWithKey(`abuse-${randomUUID().slice(0, 8)}`);
    keys = { valid: issued.apiKey, other: generateKey('test').key };
  } finally {
    admin.close();
  }
});

afterAll(async () => {
  api?.close();
  await stack?.stop();
});

const defaultHeaders = ({ valid }: Keys): HeaderValues => ({
  'Content-Type': 'application/json',
  Authorization: `Bearer ${valid}`,
});

function send(hostile: HostileCase): Promise<TimedAnswer> {
  const path = typeof hostile.path === 'function' ? hostile.path(keys) : hostile.path;
  return api.call({
    method: hostile.method ?? 'POST',
    ...(path ? { path } : {}),
    headers: (hostile.headers ?? defaultHeaders)(keys),
    body: hostile.body ?? validBody,
  });
}

function expectHostileAnswer(hostile: HostileCase, answer: HttpsAnswer): void {
  const checked = expectApiAnswer(answer, hostile.expect, hostile.name);
  const details = checked.envelope?.error.details ?? [];
  if (hostile.code) expect(checked.envelope?.error.code, hostile.name).toBe(hostile.code);
  for (const path of hostile.detailPaths ?? []) {
    expect(
      details.map((detail) => detail.path),
      hostile.name,
    ).toContain(path);
  }
  expect(details.length, `${hostile.name}: details are bounded`).toBeLessThanOrEqual(MAX_DETAILS);
  expect(answer.text.length, `${hostile.name}: the answer is small`).toBeLessThan(64 * 1024);
  if (answer.status === 401) expect(answer.headers['www-authenticate']).toBe('Bearer');
}

describe('a corpus of hostile bodies', () => {
  it.each(BODY_CASES)('answers $name with one of $expect in the envelope, never a 500', async (hostile) => {
    expectHostileAnswer(hostile, await send(hostile));
  });
});

describe('a corpus of hostile headers, methods and paths', () => {
  it.each(HEADER_CASES)('answers $name with one of $expect in the envelope, never a 500', async (hostile) => {
    expectHostileAnswer(hostile, await send(hostile));
  });
});

interface RawCase {
  name: string;
  /** The header lines after Host/Content-Type/Content-Length/Connection, each without its line end. */
  head: (keys: Keys) => string;
  requestLine?: string;
  expect: readonly number[];
}

const RAW_CASES: readonly RawCase[] = [
  {
    name: 'CR LF inside a header value smuggling a second key',
    head: ({ valid, other }) => `Authorization: Bearer ${valid}\r\nX-Note: hi\r\nX-API-Key: ${other}`,
    expect: [401],
  },
  {
    name: 'a bare LF inside Authorization',
    head: ({ valid }) => `Authorization: Bearer ${valid}\nX-Injected: 1`,
    expect: [400],
  },
  {
    name: 'a bare CR inside Authorization',
    head: ({ valid }) => `Authorization: Bearer ${valid}\rX-Injected: 1`,
    expect: [400],
  },
  {
    name: 'NUL inside Authorization',
    head: ({ valid }) => `Authorization: Bearer ${valid}\u0000`,
    expect: [400],
  },
  {
    name: 'Authorization folded over two lines',
    head: ({ valid }) => `Authorization: Bearer\r\n ${valid}`,
    expect: [400],
  },
  { name: 'a space before the colon', head: ({ valid }) => `Authorization : Bearer ${valid}`, expect: [400] },
  {
    name: 'a CR inside a header name',
    head: ({ valid }) => `Autho\rrization: Bearer ${valid}`,
    expect: [400],
  },
  {
    name: 'a header line without a colon',
    head: ({ valid }) => `Authorization: Bearer ${valid}\r\nX-Broken`,
    expect: [400],
  },
  {
    name: 'two different Content-Length headers',
    head: ({ valid }) => `Authorization: Bearer ${valid}\r\nContent-Length: 5`,
    expect: [400],
  },
  {
    name: 'Transfer-Encoding with Content-Length (request smuggling)',
    head: ({ valid }) => `Authorization: Bearer ${valid}\r\nTransfer-Encoding: chunked`,
    expect: [400],
  },
  {
    name: 'a 20 KB header line',
    head: () => `Authorization: Bearer ${'a'.repeat(20 * 1024)}`,
    expect: [400],
  },
  {
    name: 'UTF-8 bytes in a header value',
    head: ({ valid }) => `Authorization: Bearer ${valid}\r\nX-Note: café \u202e`,
    expect: [200],
  },
  {
    name: 'an encoded CR LF in the path',
    requestLine: 'POST /api/v1/requests%0d%0aX-Evil:%201 HTTP/1.1',
    head: ({ valid }) => `Authorization: Bearer ${valid}`,
    expect: [404],
  },
  {
    name: 'an absolute-form request target',
    requestLine: 'POST https://localhost/api/v1/requests HTTP/1.1',
    head: ({ valid }) => `Authorization: Bearer ${valid}`,
    expect: [200, 400, 404],
  },
  {
    name: 'HTTP/1.0',
    requestLine: 'POST /api/v1/requests HTTP/1.0',
    head: ({ valid }) => `Authorization: Bearer ${valid}`,
    expect: [200],
  },
];

function rawRequest(raw: RawCase): Buffer {
  const lines = [
    raw.requestLine ?? 'POST /api/v1/requests HTTP/1.1',
    'Host: localhost',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(validBody)}`,
    'Connection: close',
    raw.head(keys),
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), Buffer.from(validBody)]);
}

function asHttpsAnswer(raw: RawAnswer): HttpsAnswer {
  let json: unknown;
  try {
    json = JSON.parse(raw.body);
  } catch {
    json = undefined;
  }
  return { status: raw.status ?? 0, headers: raw.headers, text: raw.body, json };
}

describe('header injection over a raw TLS socket', () => {
  it.each(RAW_CASES)('answers $name with one of $expect in the envelope and closes', async (raw) => {
    const answer = await sendRaw(stack, rawRequest(raw));

    expect(answer.connected, 'TLS handshake against the stack certificate').toBe(true);
    expect(answer.status, `${raw.name}: an HTTP answer`).toBeDefined();
    expectApiAnswer(asHttpsAnswer(answer), raw.expect, raw.name);
    expect(answer.closedByServer, `${raw.name}: the server closes`).toBe(true);
  });
});

const printableAscii = Array.from({ length: 95 }, (_, index) => String.fromCharCode(32 + index));
const printable = (maxLength: number) => fc.string({ unit: fc.constantFrom(...printableAscii), maxLength });
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** A valid value most of the time, else null, any JSON or absent. */
const field = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const requestShaped = fc
  .tuple(
    fc.record({
      provider: field(fc.constantFrom('openai', 'anthropic', 'ollama', 'OpenAI', '', 'a b')),
      model: field(
        fc.oneof(fc.constantFrom('gpt-4o-mini', 'claude-haiku-4', 'llama3.1'), fc.string({ maxLength: 130 })),
      ),
      operation_type: field(fc.constantFrom(...OPERATION_TYPES, 'Chat', 'chat ')),
      messages: field(
        fc.array(
          fc.record({
            role: field(fc.constantFrom(...MESSAGE_ROLES, 'robot')),
            content: field(fc.string({ maxLength: 60 })),
          }),
          { maxLength: 4 },
        ),
      ),
      prompt: field(fc.string({ maxLength: 60 })),
      temperature: field(fc.oneof(fc.double(), fc.constantFrom('0.5', '1'))),
      max_tokens: field(fc.oneof(fc.integer(), fc.double(), fc.constantFrom('64', '1e3'))),
      top_p: field(fc.double()),
      project_id: field(fc.string({ maxLength: 130 })),
      agent_id: field(fc.string({ maxLength: 130 })),
      metadata: field(
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype')),
          anyJson,
          { maxKeys: 4 },
        ),
      ),
    }),
    fc.dictionary(fc.string({ maxLength: 12 }), anyJson, { maxKeys: 3 }),
    fc.boolean(),
  )
  .map(([shape, extras, addExtras]) => (addExtras ? { ...extras, ...shape } : shape));

/** Headers that frame the request: generated values would desynchronise the connection, not test the API. */
const FRAMING =
  /^(content-length|transfer-encoding|connection|host|expect|upgrade|te|trailer|keep-alive|proxy-.*|http2-settings)$/i;
const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,24}$/).filter((name) => !FRAMING.test(name));

/** How a generated request presents a key: a descriptor, so a failing counterexample never shows a key. */
const keyPresentation = fc.record({
  header: fc.constantFrom('Authorization', 'authorization', 'X-API-Key', 'x-api-key'),
  scheme: fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'Bearer\t', 'Basic ', 'Token ', ''),
  key: fc.oneof(
    fc.constantFrom('valid', 'other', 'valid-truncated', 'valid-lowercase', 'valid-sk-prefix'),
    printable(60),
  ),
  padding: fc.constantFrom('', ' ', ' \t'),
});

type KeyPresentation = typeof keyPresentation extends fc.Arbitrary<infer T> ? T : never;

function presentedKey(presentation: KeyPresentation): string {
  switch (presentation.key) {
    case 'valid':
      return keys.valid;
    case 'other':
      return keys.other;
    case 'valid-truncated':
      return keys.valid.slice(0, -2);
    case 'valid-lowercase':
      return keys.valid.toLowerCase();
    case 'valid-sk-prefix':
      return `sk-${keys.valid.slice(8)}`;
    default:
      return presentation.key;
  }
}

/** Whether a presentation hands over the valid key in a form SPEC §3 accepts. */
function presentsValidKey(presentation: KeyPresentation): boolean {
  if (presentation.key !== 'valid') return false;
  if (presentation.header.toLowerCase() === 'x-api-key') return presentation.scheme === '';
  return /^bearer[ \t]+$/i.test(presentation.scheme);
}

describe('fuzzing (bounded)', () => {
  const post = (body: string, headers: HeaderValues = defaultHeaders(keys)) => api.call({ headers, body });

  it(
    'answers any JSON value as the body with 200 or 400 in the envelope',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
          const answer = await post(JSON.stringify(value) ?? 'null');
          expectApiAnswer(answer, [200, 400], 'any JSON');
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers request-shaped bodies with extra, null and wrong-typed fields with 200 or 400 in the envelope',
    async () => {
      await fc.assert(
        fc.asyncProperty(requestShaped, async (shape) => {
          const answer = await post(JSON.stringify(shape));
          const checked = expectApiAnswer(answer, [200, 400], 'request-shaped');
          expect((checked.envelope?.error.details ?? []).length).toBeLessThanOrEqual(MAX_DETAILS);
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers random header maps and key presentations in the envelope, and only a valid key gets past the authorizer',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(headerName, printable(80), { maxKeys: 8 }),
          fc.array(keyPresentation, { maxLength: 3 }),
          async (extra, presentations) => {
            const headers: Record<string, string | string[]> = {
              ...extra,
              'Content-Type': 'application/json',
            };
            for (const presentation of presentations) {
              const value = `${presentation.padding}${presentation.scheme}${presentedKey(presentation)}${presentation.padding}`;
              const existing = Object.keys(headers).find(
                (name) => name.toLowerCase() === presentation.header.toLowerCase(),
              );
              const name = existing ?? presentation.header;
              const current = headers[name];
              headers[name] = current === undefined ? value : [current, value].flat();
            }

            const answer = await post(validBody, headers);

            expectApiAnswer(answer, [200, 400, 401, 415], 'random headers');
            if (!presentations.some(presentsValidKey))
              expect(answer.status, 'no valid key, yet past the authorizer').toBe(401);
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
